"""The one exception the package raises for failed operations."""

from __future__ import annotations

from typing import Any, Optional


class ConnectorError(Exception):
    """A typed failure: `code` to branch on, plus the context a person needs.

    The attributes carry the names of the component's `connector-error` record in
    camelCase, as the connector's JSON documents do: `code` (`invalid-config`,
    `invalid-input`, `unknown-action`, `auth-failed`, `forbidden`, `not-found`,
    `conflict`, `throttled`, `upstream`, `transport`, `internal`), `message`, `status`
    (the HTTP status), `graphCode`, `requestId` and `retryAfterMs`.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: Optional[int] = None,
        graphCode: Optional[str] = None,  # noqa: N803 - the contract's names
        requestId: Optional[str] = None,  # noqa: N803
        retryAfterMs: Optional[int] = None,  # noqa: N803
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.graphCode = graphCode  # noqa: N815
        self.requestId = requestId  # noqa: N815
        self.retryAfterMs = retryAfterMs  # noqa: N815

    def to_dict(self) -> dict[str, Any]:
        """The error as the JSON object the reference host prints."""
        return {
            "code": self.code,
            "message": self.message,
            "status": self.status,
            "graphCode": self.graphCode,
            "requestId": self.requestId,
            "retryAfterMs": self.retryAfterMs,
        }

    @classmethod
    def _from_record(cls, record: Any) -> ConnectorError:
        """Converts the component's `connector-error` record (kebab-case fields)."""
        return cls(
            record.code,
            record.message,
            status=record.status,
            graphCode=getattr(record, "graph-code"),
            requestId=getattr(record, "request-id"),
            retryAfterMs=getattr(record, "retry-after-ms"),
        )
