"""The iRODS error codes the server emits (each one exists in python-irodsclient's exception table)."""

from __future__ import annotations

CODES: dict[str, int] = {
    "SYS_UNMATCHED_API_NUM": -12000,
    "SYS_NO_API_PRIV": -13000,
    "SYS_API_INPUT_ERR": -14000,
    "SYS_FILE_DESC_OUT_OF_RANGE": -19000,
    "SYS_BAD_FILE_DESCRIPTOR": -23000,
    "SYS_INVALID_FILE_PATH": -31000,
    "SYS_INVALID_OPR_TYPE": -35000,
    "SYS_NOT_SUPPORTED": -66000,
    "SYS_RESC_DOES_NOT_EXIST": -78000,
    "SYS_CROSS_ZONE_MV_NOT_SUPPORTED": -109000,
    "SYS_INVALID_INPUT_PARAM": -130000,
    "SYS_LIBRARY_ERROR": -167000,
    "SYS_NOT_ALLOWED": -169000,
    "USER_NO_SUPPORT_ERR": -309000,
    "USER_FILE_DOES_NOT_EXIST": -310000,
    "OVERWRITE_WITHOUT_FORCE_FLAG": -312000,
    "USER_CHKSUM_MISMATCH": -314000,
    "USER_INPUT_PATH_ERR": -317000,
    "USER_PARAM_TYPE_ERR": -323000,
    "OBJ_PATH_DOES_NOT_EXIST": -358000,
    "LOCKED_DATA_OBJECT_ACCESS": -406000,
    "CHECK_VERIFICATION_RESULTS": -407000,
    "CAT_SQL_ERR": -806000,
    "CAT_NO_ROWS_FOUND": -808000,
    "CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME": -809000,
    "CAT_UNKNOWN_COLLECTION": -814000,
    "CAT_INVALID_ARGUMENT": -816000,
    "CAT_UNKNOWN_FILE": -817000,
    "CAT_NO_ACCESS_PERMISSION": -818000,
    "CAT_SUCCESS_BUT_WITH_NO_INFO": -819000,
    "CAT_COLLECTION_NOT_EMPTY": -821000,
    "CAT_INVALID_AUTHENTICATION": -826000,
    "CAT_INVALID_USER": -827000,
    "CAT_INSUFFICIENT_PRIVILEGE_LEVEL": -830000,
    "CAT_INVALID_RESOURCE": -831000,
    "CAT_NAME_EXISTS_AS_COLLECTION": -833000,
    "CAT_NAME_EXISTS_AS_DATAOBJ": -834000,
    "CAT_RECURSIVE_MOVE": -837000,
    "CAT_UNKNOWN_SPECIFIC_QUERY": -853000,
    "CAT_TICKET_INVALID": -890000,
    "CAT_TICKET_EXPIRED": -891000,
    "CAT_TICKET_USES_EXCEEDED": -892000,
}


class IrodsError(Exception):
    """An API failure: ``code`` goes to the reply's intInfo, ``message`` into its RError_PI.

    ``body`` optionally replaces the reply message (JSON APIs answer errors with a JSON body too).
    """

    def __init__(self, name: str, message: str = "", body: bytes | None = None) -> None:
        super().__init__(f"{name}: {message}" if message else name)
        self.name = name
        self.code = CODES[name]
        self.message = message or name
        self.body = body


def fail(name: str, message: str = "") -> IrodsError:
    """Shorthand: ``raise fail("CAT_NO_ACCESS_PERMISSION", path)``."""
    return IrodsError(name, message)
