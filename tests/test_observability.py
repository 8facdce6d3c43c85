"""docs/observability.md's tracing example, run as written, with its spans asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

PAGE = Path(__file__).parents[1] / "docs" / "observability.md"


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    return next(block for block in blocks if "create_trace_config" in block)


def _status(span: Any) -> object:
    attributes = span.attributes
    return attributes.get("http.status_code", attributes.get("http.response.status_code"))


def test_a_retried_call_shows_two_attempt_spans_under_the_callers_span() -> None:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(_example(), str(PAGE), "exec"), namespace)
    spans = namespace["exporter"].get_finished_spans()
    attempts = [span for span in spans if span.name != "show-link"]
    [parent] = [span for span in spans if span.name == "show-link"]
    assert len(spans) == 3, [span.name for span in spans]
    assert [_status(span) for span in attempts] == [503, 200]
    for span in attempts:
        assert span.parent is not None
        assert span.parent.span_id == parent.context.span_id
        assert span.context.trace_id == parent.context.trace_id
        assert "/v1/share-links/" in str(span.attributes)
    for span in spans:
        assert "demo-key" not in str(dict(span.attributes or {}))
        assert all("demo-key" not in str(event.attributes) for event in span.events)


def test_the_core_never_imports_opentelemetry() -> None:
    code = (
        "import sys, anam_async, anam_async.testing; "
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
