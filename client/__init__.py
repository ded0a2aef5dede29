"""The user-side client: Python API and the ``cortexrnn-client`` CLI.

from cortexrnn.client import Client
exp = Client().submit("examples/quickstart.yaml")
exp.wait()
exp.summary()
"""

from __future__ import annotations

from typing import Any

__all__ = ["Client", "ClientError", "Experiment", "validate_spec"]


def __getattr__(name: str) -> Any:
    # Lazy: `import cortexrnn.client` stays cheap. The client needs only cortexrnn.wire; the
    # science (local spec validation, DataFrames) is reached through cortexrnn.client.science.
    if name in ("Client", "Experiment", "validate_spec"):
        from cortexrnn.client import api  # noqa: PLC0415 - lazy: `import cortexrnn.client` stays cheap

        return getattr(api, name)
    if name == "ClientError":
        from cortexrnn.client.errors import ClientError  # noqa: PLC0415 - lazy, as above

        return ClientError
    raise AttributeError(name)
