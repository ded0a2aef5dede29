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
    # Lazy: `import cortexrnn.client` stays cheap; the spec models pull in the science code.
    if name in ("Client", "Experiment", "validate_spec"):
        from cortexrnn.client import api

        return getattr(api, name)
    if name == "ClientError":
        from cortexrnn.client.errors import ClientError

        return ClientError
    raise AttributeError(name)
