"""Bad values that used to escape as the wrong type, late: now AnamValidationError, early."""

from __future__ import annotations

import math
import uuid

import aiohttp
import pytest

from anam_async import AnamClient, AnamValidationError
from anam_async.testing import FakeAnamAPI

from ._leaks import SECRET


@pytest.mark.parametrize(
    "timeout",
    [
        aiohttp.ClientTimeout(total=math.inf),
        aiohttp.ClientTimeout(connect=math.nan),
        aiohttp.ClientTimeout(sock_read=-1),
        math.inf,
        0,
    ],
)
def test_a_timeout_that_is_not_finite_and_positive_is_refused(timeout: object) -> None:
    with pytest.raises(AnamValidationError, match=r"^timeout="):
        AnamClient("k", timeout=timeout)  # type: ignore[arg-type]


def test_a_host_name_that_cannot_be_encoded_is_refused_at_construction() -> None:
    with pytest.raises(AnamValidationError, match="host name cannot be encoded"):
        AnamClient("k", base_url="https://" + "a" * 64 + ".example.com")


@pytest.mark.parametrize(
    "base_url",
    [f"https://user:{SECRET}@api.anam.ai", SECRET, f"ftp://{SECRET}", f"https://{SECRET} x"],
)
def test_a_bad_base_url_is_refused_without_being_shown(base_url: str) -> None:
    with pytest.raises(AnamValidationError, match=r"^base_url is invalid") as caught:
        AnamClient("k", base_url=base_url)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda c: c.share_links.list(page=10**5000), "page"),
        (lambda c: c.share_links.list(page=2**63), "page"),
        (lambda c: c.share_links.stream(start_page=10**4400), "start_page"),
        (lambda c: c.share_links.pages(limit=2**63), "limit"),
    ],
)
async def test_huge_ints_are_refused_naming_the_parameter(call: object, name: str) -> None:
    async with AnamClient("k", base_url="http://127.0.0.1:9") as client:

        async def run() -> None:
            result = call(client)  # type: ignore[operator]
            if hasattr(result, "__await__"):
                await result

        with pytest.raises(AnamValidationError, match=rf"^{name}=") as caught:
            await run()
        assert "2**63 - 1" in str(caught.value)


class EvilUUID(uuid.UUID):
    def __str__(self) -> str:
        return "../../admin?x="


async def test_an_id_goes_into_the_path_from_its_value_not_its_str() -> None:
    async with FakeAnamAPI(links=3) as api:
        real = uuid.UUID(api.links[0]["id"])
        async with AnamClient(api.api_key, base_url=api.url) as client:
            link = await client.share_links.get(EvilUUID(int=real.int))
        assert link.id == real
        assert api.requests[-1].path == f"/v1/share-links/{real}"
