"""The spec oracle itself: it flags what the spec disagrees with, so it cannot pass vacuously."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

from anam_async.testing import RecordedRequest, RecordedResponse, StatusFault

from ._spec_oracle import SpecOracle

LINK = {
    "id": "00000000-0000-4000-8000-000000000001",
    "token": "sh_x",
    "type": "LINK",
    "createdAt": "2026-04-20T10:00:00.000Z",
    "personaId": "00000000-0000-4000-8000-000000000002",
}


def _exchange(
    query: str, status: int, body: bytes, *, fault: StatusFault | None = None
) -> RecordedResponse:
    request = RecordedRequest(
        number=1,
        method="GET",
        path="/v1/share-links",
        query={},
        query_string=query,
        headers=CIMultiDictProxy(CIMultiDict({"Authorization": "Bearer k"})),
        body=b"",
        operation="list",
        page=1,
    )
    headers = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))
    return RecordedResponse(request=request, status=status, headers=headers, body=body, fault=fault)


def test_a_conforming_exchange_passes() -> None:
    body = b'{"data": [], "meta": {"total": 0, "lastPage": 0, "currentPage": 1, "perPage": 20}}'
    assert SpecOracle().check(_exchange("page=1", 200, body)) is None


def test_a_response_of_the_wrong_shape_is_a_violation() -> None:
    violation = SpecOracle().check(_exchange("page=1", 200, b'{"data": 5, "meta": null}'))
    assert violation is not None
    assert "does not match the spec" in violation.message


def test_a_2xx_to_a_request_the_spec_rejects_is_a_violation() -> None:
    body = b'{"data": [], "meta": {"total": 0, "lastPage": 0, "currentPage": 1, "perPage": 20}}'
    violation = SpecOracle().check(_exchange("perPage=1000", 200, body))
    assert violation is not None
    assert "must answer 4xx" in violation.message


def test_an_injected_fault_is_skipped_and_counted() -> None:
    oracle = SpecOracle()
    assert oracle.check(_exchange("page=1", 200, b"garbage", fault=StatusFault(503))) is None
    assert oracle.stats.skipped == 1
    assert oracle.stats.requests == 0
