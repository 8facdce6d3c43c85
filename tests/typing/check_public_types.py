"""Checked by mypy, never run: the public overloads and generator types say what they should.

`tests/test_typing.py` runs mypy on this file; `assert_type` fails the check when an
overload or a return type drifts.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import assert_type

from anam_async import (
    AnamClient,
    APIError,
    Page,
    PersonaShareLink,
    ShareLink,
    ShareLinkPage,
    ShareLinkType,
)


async def public_types(client: AnamClient, ids: list[uuid.UUID]) -> None:
    assert_type(client.share_links.get_many(ids), AsyncGenerator[PersonaShareLink, None])
    assert_type(
        client.share_links.get_many(ids, return_exceptions=False),
        AsyncGenerator[PersonaShareLink, None],
    )
    assert_type(
        client.share_links.get_many(ids, return_exceptions=True),
        AsyncGenerator[PersonaShareLink | APIError, None],
    )
    assert_type(client.share_links.stream(), AsyncGenerator[PersonaShareLink, None])
    assert_type(client.share_links.pages(), AsyncGenerator[ShareLinkPage, None])
    page = await client.share_links.list()
    assert_type(page, ShareLinkPage)
    generic: Page[PersonaShareLink] = page
    assert_type(generic.data, list[PersonaShareLink])
    assert_type(await client.share_links.get(ids[0]), PersonaShareLink)
    assert_type(await client.share_links.create(persona_id=ids[0]), ShareLink)
    assert_type(await client.share_links.update(ids[0], usage_limit=3), ShareLink)
    assert_type(await client.share_links.delete(ids[0]), None)
    assert_type(page.data[0].type, ShareLinkType)
    assert_type(page.data[0].id, uuid.UUID)
