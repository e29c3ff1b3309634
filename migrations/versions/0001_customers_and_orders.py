"""customers and orders

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.UniqueConstraint("email", name="customers_email_key"),
        # The service lower-cases emails; the check keeps other writers honest too.
        sa.CheckConstraint("email = lower(email)", name="customers_email_lower"),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name="customers_name_length"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("external_id", sa.Text, nullable=False),
        sa.Column(
            "customer_id",
            sa.BigInteger,
            sa.ForeignKey("customers.id", name="orders_customer_id_fkey"),
            nullable=False,
        ),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("total_amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.UniqueConstraint("external_id", name="orders_external_id_key"),
        sa.CheckConstraint(
            "status IN ('pending', 'completed', 'cancelled', 'refunded')", name="orders_status"
        ),
        sa.CheckConstraint("total_amount >= 0", name="orders_total_amount_nonnegative"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="orders_currency_code"),
    )
    op.create_index("orders_customer_id_id_idx", "orders", ["customer_id", "id"])
    op.create_index("orders_created_at_idx", "orders", ["created_at"])


def downgrade() -> None:
    op.drop_table("orders")
    op.drop_table("customers")
