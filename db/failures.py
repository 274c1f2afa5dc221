"""How to read a failure of Postgres (or its driver): a value it cannot store, which no
retry will change, or a connection that went away, which a retry will mend."""

from sqlalchemy.exc import DBAPIError, StatementError


def unstorable_value(err: BaseException) -> str | None:
    """Why Postgres refused a value it cannot store, if that is what happened: a NUL in
    text, a lone surrogate, a number past 64 bits (SQLSTATE class 22, data exception, or the
    driver's refusal to encode it). None for any other failure."""
    cause = err.orig if isinstance(err, StatementError) else err
    while cause is not None:
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if (state and str(state).startswith("22")) or type(cause).__name__ in (
            "DataError",
            "CharacterNotInRepertoireError",
            "UnicodeEncodeError",
            "UntranslatableCharacterError",
        ):
            args = getattr(cause, "args", ())
            return str(args[0]).splitlines()[0] if args else type(cause).__name__
        cause = cause.__cause__
    return None


def connection_lost(err: DBAPIError) -> bool:
    """Whether Postgres was unreachable or the connection dropped (a restart, a failover),
    rather than the statement failing."""
    if err.connection_invalidated:
        return True
    cause = err.orig
    while cause is not None:
        if isinstance(cause, (OSError, ConnectionError)) or type(cause).__name__ in (
            "ConnectionDoesNotExistError",
            "CannotConnectNowError",
            "AdminShutdownError",
            "InterfaceError",
            "ConnectionFailureError",
            "TooManyConnectionsError",
        ):
            return True
        cause = cause.__cause__
    return False
