"""Extra headers are checked at construction and merged case-insensitively with ours."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anam_async import AnamClient, AnamValidationError
from anam_async.testing import FakeAnamAPI

from ._leaks import SECRET

TCHARS = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters
RESERVED = ["Authorization", "content-length", "Transfer-Encoding", "HOST", "Connection"]
RESERVED += ["Content-Type"]


def _make(headers: object) -> AnamClient:
    return AnamClient("k", base_url="http://127.0.0.1:9", headers=headers)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["", "Authorization:Bearer", "X Y", "X\tY", "Ä", "X-Ok\r\n", "(x)", "a/b", "x@y"]
)
def test_a_name_that_is_not_a_token_is_refused_without_being_shown(name: str) -> None:
    with pytest.raises(AnamValidationError, match=r"^headers is invalid: a header name") as caught:
        _make({name + SECRET: "v"} if name else {"": "v"})
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("name", RESERVED)
def test_headers_that_frame_route_or_carry_the_key_cannot_be_set(name: str) -> None:
    with pytest.raises(AnamValidationError, match=rf"^headers is invalid: {name} cannot be set"):
        _make({name: "0"})


@pytest.mark.parametrize("bad", ["\x00", "\x0b", "\x7f", "\r", "\n", "\x1f"])
def test_a_value_with_a_control_character_is_refused_without_being_shown(bad: str) -> None:
    with pytest.raises(AnamValidationError, match="holds a control character") as caught:
        _make({"X-Trace": f"{SECRET}{bad}"})
    assert SECRET not in str(caught.value)


def test_a_name_given_twice_in_two_cases_is_refused() -> None:
    with pytest.raises(AnamValidationError, match="given twice"):
        _make({"X-A": "1", "x-a": "2"})


async def test_a_users_accept_replaces_ours_and_is_sent_once() -> None:
    async with FakeAnamAPI(links=1) as api:
        headers = {"accept": "application/json; q=1", "x-trace": "abc\tdef"}
        async with AnamClient(api.api_key, base_url=api.url, headers=headers) as client:
            await client.share_links.list(per_page=1)
        sent = api.requests[-1].headers
        assert sent.getall("Accept") == ["application/json; q=1"]  # type: ignore[attr-defined]
        assert sent.getall("Authorization") == [f"Bearer {api.api_key}"]  # type: ignore[attr-defined]
        assert sent["X-Trace"] == "abc\tdef"


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    name=st.text(alphabet=TCHARS, min_size=1, max_size=20).filter(
        lambda n: n.lower() not in {r.lower() for r in RESERVED} | {"accept", "user-agent"}
    ),
    value=st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.just("\t"),
        max_size=30,
    ),
)
def test_property_any_token_name_and_clean_value_is_accepted(name: str, value: str) -> None:
    _make({name: value})


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    name=st.text(min_size=1, max_size=10).filter(lambda n: any(c not in TCHARS for c in n)),
)
def test_property_any_name_with_a_non_token_character_is_refused(name: str) -> None:
    with pytest.raises(AnamValidationError, match="header name"):
        _make({name: "v"})
