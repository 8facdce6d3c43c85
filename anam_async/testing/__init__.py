"""Test helpers: `FakeAnamAPI`, an in-process fake of the Anam share-links API, and
`set_testing`, the switch that turns the client's retry waits off.

The fake is a real aiohttp server on a real socket (``127.0.0.1`` and a free port by
default), so the code under test runs its whole HTTP stack. It implements the five
share-links operations of the wire spec (list, get, create, update, delete) over one in-memory
state seeded deterministically, checks the bearer key, validates input like the real API
(a JSON ``400`` whose ``message`` names the parameter) and injects faults on demand.

Example:

```python
import aiohttp
from anam_async.testing import FakeAnamAPI, StatusFault

async def test_first_page() -> None:
    async with FakeAnamAPI(links=45) as api, aiohttp.ClientSession() as http:
        api.add_fault(StatusFault(429, retry_after=0), operation="list", page=2)
        headers = {"Authorization": f"Bearer {api.api_key}"}
        async with http.get(f"{api.url}/v1/share-links", headers=headers) as resp:
            page = await resp.json()
        assert page["meta"]["total"] == 45
        assert api.requests[0].page == 1
```

What the fake does, in the order it does it, for every request:

1. records it (`FakeAnamAPI.requests`, numbered from 1);
2. calls the `on_request` hooks, in registration order;
3. parks it at every matching `hold` gate until that gate is released;
4. picks a fault: the first scripted one (`add_fault`) that matches,
   else a random one (`set_error_rate`);
5. sleeps `latency` plus the fault's own delay;
6. answers with the fault, or normally: unknown path ``404``, wrong method ``405``, bad or
   missing ``Authorization: Bearer <key>`` ``401``, a body not labelled JSON ``415``, invalid
   input ``400``, then the operation;
7. calls the `on_response` hooks with the answer (a `RecordedResponse`), then sends it.

Data and ordering:

- A million links cost next to nothing: the seeded links are computed from their position
  when a request needs them, never stored, so ``FakeAnamAPI(links=1_000_000)`` starts at
  once in a few tens of MB, and page ``n`` takes the same time whatever ``n``. Only created,
  updated and deleted links are stored. A filtered listing (``search``, ``personaId``)
  builds its index on first use, O(links) (a few seconds at a million), and keeps it until
  the data changes.
- Listing order is newest ``createdAt`` first, ties broken by ``id`` ascending. A link created
  through the API or `insert_links` is always strictly newest (its
  ``createdAt`` is the clock's time, or 1 ms after the newest link if the clock is behind).
- ``search`` keeps the links whose ``personaName`` or ``token`` contains the search term,
  compared after ``str.casefold()``; an empty term keeps everything. ``personaId`` keeps the
  links of that persona. Both together must both match.
- ``meta.lastPage`` is ``ceil(total / perPage)``, so an empty listing reports ``total`` 0 and
  ``lastPage`` 0; ``prev`` is ``page - 1`` (null on page 1) and ``next`` is ``page + 1`` (null
  once ``page >= lastPage``). A page past the end has empty ``data`` and the same rules.
- ``POST`` with a ``personaId`` that names no persona answers ``404``, as the spec documents.
  ``usageLimit`` must be a whole number in 1..2147483647 (``10.0`` is accepted),
  ``expiresInHours`` any positive finite number whose expiry is a valid date.
- Request bodies are read only when labelled ``Content-Type: application/json`` (a body
  labelled otherwise gets ``415``, as a JSON API's body parser would ignore it); a body that
  is not JSON, not an object, nested too deeply, or breaks a field's rule gets ``400`` with a
  message naming the field; a body over 1 MiB gets ``413``. Unknown fields are ignored;
  ``null`` is not a number.
- ``DELETE`` removes the link and answers ``200`` with ``{"message": ...}``; an unknown id
  answers ``404``.

Turning waits off:

``set_testing(True)`` makes every wait the client would make (retry backoff, ``Retry-After``,
the client-wide pause after a 429) return at once; retries keep their order and number.
``with set_testing(True, on_wait=waits.append):`` also records each skipped wait, in
seconds, and restores the earlier setting on exit. The project's own tests use it the same
way (stamina's ``set_testing`` is the model).

Where things live: ``_store`` (the data and the API's rules, no socket), ``_faults`` (the
fault kinds and their schedule), ``_records`` and ``_observe`` (the log, hooks, waits and
gates), ``_http`` and ``_server`` (aiohttp around them).
"""

from __future__ import annotations

from anam_async._retry import WaitSetting, is_testing, set_testing

from ._faults import DelayFault, DropFault, Fault, MalformedFault, Operation, StatusFault
from ._records import HoldGate, RecordedRequest, RecordedResponse, RequestHook, ResponseHook
from ._server import FakeAnamAPI

__all__ = [
    "DelayFault",
    "DropFault",
    "FakeAnamAPI",
    "Fault",
    "HoldGate",
    "MalformedFault",
    "Operation",
    "RecordedRequest",
    "RecordedResponse",
    "RequestHook",
    "ResponseHook",
    "StatusFault",
    "WaitSetting",
    "is_testing",
    "set_testing",
]

for _name in __all__:
    _value = globals()[_name]
    if getattr(_value, "__module__", "").startswith(__name__ + "."):
        _value.__module__ = __name__
del _name, _value
