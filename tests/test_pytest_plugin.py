"""The pytest plugin's fixtures, as a user's test suite gets them from the entry point."""

from __future__ import annotations

from anam_async import AnamClient
from anam_async.testing import FakeAnamAPI


async def test_fake_api_fixture_is_running(anam_fake_api: FakeAnamAPI) -> None:
    assert anam_fake_api.url.startswith("http://127.0.0.1:")
    assert anam_fake_api.api_key


async def test_client_fixture_is_bound_to_the_fake(
    anam_fake_api: FakeAnamAPI, anam_client: AnamClient
) -> None:
    page = await anam_client.share_links.list(per_page=3)
    assert len(page.data) == 3
    assert anam_client.base_url == anam_fake_api.url
    assert anam_fake_api.requests[0].headers["Authorization"] == f"Bearer {anam_fake_api.api_key}"


def test_plugin_is_registered_through_the_entry_point(pytestconfig: object) -> None:
    from importlib.metadata import entry_points

    [entry] = [e for e in entry_points(group="pytest11") if e.name == "anam_async"]
    assert entry.value == "anam_async.pytest_plugin"
