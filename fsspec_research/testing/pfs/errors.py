"""pachd's errors: gRPC status codes and the exact message texts of ``src/server/pfs/pfs.go``."""

from __future__ import annotations

import grpc

Code = grpc.StatusCode


class PFSError(Exception):
    """An error the servicer reports to the client as ``code`` with ``message`` (gRPC details)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def unknown(message: str) -> PFSError:
    """pachd's plain errors (``errors.Errorf``) reach the client with code UNKNOWN."""
    return PFSError(Code.UNKNOWN, message)


def repo_not_found(repo: str) -> PFSError:
    return PFSError(Code.NOT_FOUND, f"repo {repo} not found")


def repo_exists(repo: str) -> PFSError:
    return PFSError(Code.ALREADY_EXISTS, f"repo {repo} already exists")


def branch_not_found(name: str, repo: str) -> PFSError:
    return PFSError(Code.NOT_FOUND, f'branch "{name}" not found in repo {repo}')


def project_not_found(name: str) -> PFSError:
    return PFSError(Code.NOT_FOUND, f'project "{name}" not found')


def project_exists(name: str) -> PFSError:
    return PFSError(Code.ALREADY_EXISTS, f"project {name} already exists")


def commit_not_found(commit: str) -> PFSError:
    """``commit`` as pachd prints a Commit: ``project/repo@id``."""
    return PFSError(Code.NOT_FOUND, f"commit {commit} not found")


def commit_set_not_found(commit_set: str) -> PFSError:
    return PFSError(Code.NOT_FOUND, f"no commits found for commitset {commit_set}")


def commit_finished(commit: str) -> PFSError:
    return unknown(f"commit {commit} has already finished")


def commit_error(commit: str) -> PFSError:
    return unknown(f"commit {commit} finished with an error")


def file_not_found(path: str, repo: str, commit_id: str) -> PFSError:
    return PFSError(Code.NOT_FOUND, f"file {path} not found in repo {repo} at commit {commit_id}")


def invalid_name(kind: str, name: str) -> PFSError:
    return PFSError(
        Code.INVALID_ARGUMENT,
        f"{kind} name ({name}) invalid: only alphanumeric characters, underscores, and dashes are allowed",
    )


def unimplemented(what: str) -> PFSError:
    return PFSError(Code.UNIMPLEMENTED, f"{what} is not supported by this test server")


MATCHED_NON_FILE = "cannot get directory or non-regular file. Use GetFileTAR instead"
MATCHED_MULTIPLE_FILES = "matched multiple files. Use GetFileTAR instead"
REVERSE_NEEDS_NUMBER = "number must be > 0 when reverse is true"
NO_TOKEN = "no authentication token (try logging in)"
BAD_TOKEN = "provided auth token is corrupted or has expired (try logging in again)"
