"""The one exception type the cluster package raises for anything a user can act on."""


class ClusterError(RuntimeError):
    """A lab operation failed; the message says what and, where possible, how to fix it."""
