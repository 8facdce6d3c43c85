"""A server that echoes the key in an error body or header: the key reaches no exception
(text, repr, args, attributes, chain) and no log record, raw or JSON-escaped."""

from __future__ import annotations

import logging

import pytest

from anam_async import AnamClient, APIStatusError
from anam_async.testing import FakeAnamAPI, StatusFault

from ._leaks import SECRET, leaking_records, leaks

STATUSES = [
    *range(400, 419),
    *range(421, 432),
    451,
    *range(500, 512),
    300,
    301,
    302,
    307,
    308,
]


def _escaped(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


def _mixed(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" if i % 2 else c for i, c in enumerate(text))


SPELLINGS = {"raw": SECRET, "escaped": _escaped(SECRET), "mixed": _mixed(SECRET)}
PLACES = {
    "message": '{{"message": "bad key {k}"}}',
    "message-list": '{{"message": ["first", "key {k} refused"]}}',
    "error": '{{"error": "{k}"}}',
    "nested": '{{"detail": {{"auth": ["Bearer {k}"]}}, "message": "no"}}',
    "key-of-object": '{{"{k}": 1}}',
    "text": "key {k} refused",
}


@pytest.mark.parametrize("status", STATUSES)
async def test_an_echoed_key_reaches_no_exception_and_no_log(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="anam_async")
    api = FakeAnamAPI(links=1, api_key=SECRET)
    async with api, AnamClient(SECRET, base_url=api.url, max_retries=1) as client:
        for spelling in SPELLINGS.values():
            for place, template in PLACES.items():
                body = template.format(k=spelling)
                content_type = "text/plain" if place == "text" else "application/json"
                api.add_fault(
                    StatusFault(
                        status,
                        body=body.encode(),
                        content_type=content_type,
                        headers={"X-Echo": f"Bearer {SECRET}", "Retry-After": "0"},
                    ),
                    times=None,
                )
                with pytest.raises(APIStatusError) as caught:
                    await client.share_links.get(api.links[0]["id"])
                api.clear_faults()
                assert caught.value.status == status
                assert leaks(caught.value) == [], (place, spelling)
                assert caught.value.headers["X-Echo"] == "Bearer ***"
    assert leaking_records(caplog.records) == []
