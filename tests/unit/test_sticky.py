from collections.abc import Callable

import pytest

from service.db.sticky import COOKIE, StickyWindow
from service.settings import SettingsError, load_settings

SECRET = "a-shared-secret-of-some-length"


def cookie_value(header: str) -> str:
    first = header.split(";", 1)[0]
    name, _, value = first.partition("=")
    assert name == COOKIE
    return value


def test_a_fresh_cookie_gives_back_its_lsn() -> None:
    window = StickyWindow(5, SECRET)
    value = cookie_value(window.cookie("0/3009138", now=1000))
    assert window.lsn(value, now=1004) == "0/3009138"


def test_an_expired_cookie_is_ignored() -> None:
    window = StickyWindow(5, SECRET)
    value = cookie_value(window.cookie("0/3009138", now=1000))
    assert window.lsn(value, now=1006) is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v.replace("0/3009138", "0/FFFFFFF"),  # a later LSN: would pin reads
        lambda v: v.replace("~1005~", "~9999999999~"),  # a longer window
        lambda v: v[:-1] + ("0" if v[-1] != "0" else "1"),
        lambda v: "garbage",
        lambda v: "",
        lambda v: v[:-1] + "\u00e9",  # a non-ASCII byte, as a latin-1 header decodes it
        lambda v: "\u00e9",
        lambda v: v.replace("~", "\u00e9~"),
        lambda v: "~~",
        lambda v: v + "~" + v,
    ],
)
def test_a_forged_cookie_is_ignored(tamper: Callable[[str], str]) -> None:
    window = StickyWindow(5, SECRET)
    value = cookie_value(window.cookie("0/3009138", now=1000))
    assert window.lsn(value, now=1001) == "0/3009138"  # the untampered cookie verifies
    assert window.lsn(tamper(value), now=1001) is None


def test_another_secret_does_not_verify() -> None:
    value = cookie_value(StickyWindow(5, SECRET).cookie("0/1", now=1000))
    assert StickyWindow(5, "another-secret-entirely").lsn(value, now=1001) is None


def test_the_window_needs_a_secret_and_hides_it() -> None:
    with pytest.raises(SettingsError, match=r"database\.sticky_secret"):
        load_settings({"SWITCHYARD_DATABASE__STICKY_WINDOW": "5"})
    settings = load_settings(
        {"SWITCHYARD_DATABASE__STICKY_WINDOW": "5", "SWITCHYARD_DATABASE__STICKY_SECRET": SECRET}
    )
    assert settings.database.sticky_window == 5
    assert SECRET not in repr(settings)


def test_the_cookie_is_secure_only_when_asked() -> None:
    window = StickyWindow(5, SECRET)
    assert "Secure" not in window.cookie("0/1", now=1000)
    header = window.cookie("0/1", now=1000, secure=True)
    assert header.endswith("; Secure")
    assert window.lsn(cookie_value(header), now=1001) == "0/1"
