"""`Client`: the CortexRNN REST API from Python, on httpx.

    from cortexrnn.client import Client
    client = Client()                      # url, token: environment / login / embedded server
    exp = client.submit("examples/quickstart.yaml")
    exp.wait()                             # follows the event stream; RunsFailed if a run failed
    df = exp.summary()                     # the stats table as a pandas DataFrame
    exp.report("report.html")

Specs are validated on this machine when the science is installed (`cortexrnn[science]`),
otherwise by the server (see cortexrnn.client.specs); nothing here imports the science.

Safe requests are retried with exponential backoff on connection errors and 502/503/504:
GETs always, POSTs only when they carry an Idempotency-Key (submissions do, one key per
submission reused by every retry), anything when the connection was refused before the
request was sent.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack
from urllib.parse import quote

import httpx

from cortexrnn.client import science, specs
from cortexrnn.client.config import ClientConfig, resolve
from cortexrnn.client.datasets import packed_upload
from cortexrnn.client.errors import (
    ClientError,
    NotFound,
    Refused,
    Unreachable,
    UsageError,
    error_from_response,
    unreachable,
)
from cortexrnn.client.experiment import Experiment, failure_line
from cortexrnn.client.specs import SpecLike
from cortexrnn.client.sse import Event, parse_events
from cortexrnn.wire.schemas import (
    DatasetOut,
    ExperimentDetail,
    ExperimentOut,
    ExperimentPage,
    QueueOut,
    RunDetail,
    RunMetrics,
    RunOut,
    SpecCheck,
    SubmitResponse,
)

if TYPE_CHECKING:
    from pandas import DataFrame

    from cortexrnn.client.science import ExperimentSpec

RETRY_STATUSES = {429, 502, 503, 504}
# The event stream outlives short outages (an API restart, a proxy reload): it reconnects for
# this long after it broke, waiting at most STREAM_BACKOFF_CAP_S between tries.
RECONNECT_FOR_S = 300.0
STREAM_BACKOFF_CAP_S = 10.0
# What `events` reports before each wait to reconnect: (attempt, seconds to wait, why).
ReconnectHook = Callable[[int, float, str], None]
# Raised before a byte of the request left: safe to resend whatever the method.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)


def validate_spec(spec: SpecLike) -> ExperimentSpec:
    """The spec as a validated model, from a model, a mapping or a YAML/JSON file path.
    Raises SpecInvalid listing every field path that is wrong; needs the science
    (`Client.validate` asks the server instead)."""
    return science.validate(spec)


class Client:
    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.4,
        reconnect_for: float = RECONNECT_FOR_S,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        """`url`/`token` default to CORTEXRNN_URL/CORTEXRNN_TOKEN, the login file, then the
        embedded server (see cortexrnn.client.config). `reconnect_for`: how many seconds a
        broken event stream (`events`, `watch`, `Experiment.wait`) keeps reconnecting. Tests
        pass `transport` or a ready `http_client` (e.g. starlette's TestClient) to talk to an
        app in-process."""
        self.config: ClientConfig = resolve(url, token)
        self.url = self.config.url
        self.token = self.config.token
        self.retries = max(0, retries)
        self.backoff = backoff
        self.reconnect_for = max(0.0, reconnect_for)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            timeout=timeout, transport=transport, follow_redirects=True
        )
        self._timeout = timeout

    # -- plumbing ---------------------------------------------------------------------------
    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "cortexrnn-client"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers

    def _sleep(self, attempt: int, response: httpx.Response | None = None) -> None:
        delay = self.backoff * (2**attempt)
        if response is not None:
            after = response.headers.get("retry-after", "")
            if after.isdigit():
                delay = max(delay, float(after))
        time.sleep(min(delay, 30.0))

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        files: Any = None,
        data: Any = None,
        ok: tuple[int, ...] = (),
        retry_safe: bool = False,
    ) -> httpx.Response:
        """Send one request with the retry policy; non-2xx raises the matching ClientError
        (statuses in `ok` are returned instead). `retry_safe` marks a POST without side
        effects (validation), which may be resent like a GET."""
        headers = self._headers(headers)
        safe = retry_safe or method in ("GET", "HEAD") or "Idempotency-Key" in headers
        url = self.url + path
        params = {k: v for k, v in (params or {}).items() if v is not None}
        last_exc: Exception | None = None
        for attempt in range(self.retries + 1):
            final = attempt == self.retries
            try:
                response = self._http.request(
                    method, url, params=params, json=json, headers=headers, files=files, data=data
                )
            except NOT_SENT as exc:
                last_exc = exc
            except httpx.TransportError as exc:
                if not safe:
                    raise unreachable(self.url, exc, self.config.note) from None
                last_exc = exc
            else:
                if response.status_code in RETRY_STATUSES and safe and not final:
                    self._sleep(attempt, response)
                    continue
                if response.is_success or response.status_code in ok:
                    return response
                raise error_from_response(response, url=self.url)
            if not final:
                self._sleep(attempt)
        assert last_exc is not None
        raise unreachable(self.url, last_exc, self.config.note) from None

    def get_json(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    # -- service ----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self.get_json("/healthz")

    def ready(self) -> dict[str, Any]:
        return self.request("GET", "/readyz", ok=(503,)).json()

    def whoami(self) -> str:
        """The user name this token belongs to: GET /v1/me where the server has it, else the
        name stored by `login --user` (or `local` for the embedded admin token)."""
        try:
            return str(self.get_json("/v1/me")["name"])
        except NotFound:
            pass
        if self.config.user:
            return self.config.user
        raise UsageError(
            "cannot tell which user this token belongs to (the server has no /v1/me); "
            "run `cortexrnn-client login --user NAME` or use `list --owner NAME`"
        )

    def queue(self) -> QueueOut:
        return QueueOut.model_validate(self.get_json("/v1/queue"))

    # -- experiments ------------------------------------------------------------------------
    def submit(
        self,
        spec: SpecLike,
        *,
        idempotency_key: str | None = None,
        **changes: Unpack[specs.SpecChanges],
    ) -> Experiment:
        """Submit a spec (a mapping, a YAML/JSON path or an ExperimentSpec), the keyword
        arguments (name, priority, force, seeds, dataset; None leaves one alone) replacing its
        fields; returns the experiment (`.submission` holds the server's answer: run count,
        cached runs, whether it was new). With the science installed the spec is validated
        here first; without it the server validates it. Either way an invalid spec raises
        SpecInvalid with every wrong field's path."""
        local = science.available() or science.is_spec_model(spec)
        body = specs.request_body(spec, specs.overrides(**changes), local=local)
        key = idempotency_key or uuid.uuid4().hex
        try:
            response = self.request(
                "POST", "/v1/experiments", json=body, headers={"Idempotency-Key": key}
            )
        except UsageError as exc:
            if local:  # the fields were checked here: a 422 now is about the server's side
                raise  # (the dataset)
            raise specs.refused_spec(exc, specs.source_of(spec)) from None
        submission = SubmitResponse.model_validate(response.json())
        return Experiment(self, submission.id, submission=submission, idempotency_key=key)

    def validate(self, spec: SpecLike, **changes: Unpack[specs.SpecChanges]) -> SpecCheck:
        """Ask the server whether the spec would be accepted (POST /v1/experiments/validate:
        every field, and the dataset with enough neurons); nothing is stored. The keyword
        arguments replace fields as in `submit`. Returns the run count, conditions, seeds and
        tasks; raises SpecInvalid with the field paths."""
        body = specs.request_body(spec, specs.overrides(**changes), local=False)
        try:
            response = self.request("POST", "/v1/experiments/validate", json=body, retry_safe=True)
        except UsageError as exc:
            raise specs.refused_spec(exc, specs.source_of(spec)) from None
        return SpecCheck.model_validate(response.json())

    def experiment(self, experiment_id: int) -> Experiment:
        return Experiment(self, int(experiment_id))

    def get_experiment(self, experiment_id: int) -> ExperimentDetail:
        return ExperimentDetail.model_validate(
            self.get_json(f"/v1/experiments/{int(experiment_id)}")
        )

    def list_experiments(
        self,
        *,
        owner: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        name: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> ExperimentPage:
        data = self.get_json(
            "/v1/experiments",
            owner=owner,
            status=status,
            tag=tag,
            name=name,
            offset=offset,
            limit=limit,
        )
        return ExperimentPage.model_validate(data)

    def cancel(self, experiment_id: int) -> ExperimentOut:
        return ExperimentOut.model_validate(
            self.request("POST", f"/v1/experiments/{int(experiment_id)}/cancel").json()
        )

    def retry(self, experiment_id: int) -> ExperimentOut:
        return ExperimentOut.model_validate(
            self.request("POST", f"/v1/experiments/{int(experiment_id)}/retry").json()
        )

    def delete(self, experiment_id: int) -> None:
        self.request("DELETE", f"/v1/experiments/{int(experiment_id)}")

    def runs(self, experiment_id: int, state: str | None = None) -> list[RunOut]:
        data = self.get_json(f"/v1/experiments/{int(experiment_id)}/runs", state=state)
        return [RunOut.model_validate(r) for r in data]

    def summary_json(
        self, experiment_id: int, *, metric: str | None = None, task: str | None = None
    ) -> dict[str, Any]:
        """The stats tables: summary (n, mean, sd, t and bootstrap CIs), kruskal, pairwise
        (Mann-Whitney U, Holm-corrected p) and anova; `metric`/`task` narrow them on the server."""
        return self.get_json(
            f"/v1/experiments/{int(experiment_id)}/summary", metric=metric, task=task
        )

    def report_html(self, experiment_id: int) -> bytes:
        response = self.request(
            "GET", f"/v1/experiments/{int(experiment_id)}/report", headers={"Accept": "text/html"}
        )
        return response.content

    def events(
        self,
        experiment_id: int,
        *,
        reconnects: int | None = None,
        reconnect_for: float | None = None,
        on_reconnect: ReconnectHook | None = None,
    ) -> Iterator[Event]:
        """The experiment's server-sent events until `done`.

        When the stream breaks (the API restarts, a proxy drops it, 502/503/504) it reconnects
        with exponential backoff capped at STREAM_BACKOFF_CAP_S, for up to `reconnect_for`
        seconds (default: the client's) after the break, or at most `reconnects` times in a
        row where given; `on_reconnect(attempt, delay, why)` is called before each wait. A
        reconnect sends Last-Event-ID where the server gave event ids; the server starts every
        connection with each run's current state, so nothing that happened meanwhile is lost."""
        window = self.reconnect_for if reconnect_for is None else max(0.0, reconnect_for)
        path = f"/v1/experiments/{int(experiment_id)}/events"
        failures = 0
        broken_since: float | None = None
        last_id: str | None = None

        def wait(why: str, response: httpx.Response | None = None) -> bool:
            """Sleep before the next try; False: the time (or the tries) to reconnect is up."""
            nonlocal failures, broken_since
            now = time.monotonic()
            if broken_since is None:
                broken_since = now
            left = broken_since + window - now
            if left <= 0 or (reconnects is not None and failures >= reconnects):
                return False
            delay = min(self.backoff * 2**failures, STREAM_BACKOFF_CAP_S)
            after = response.headers.get("retry-after", "") if response is not None else ""
            if after.isdigit():
                delay = max(delay, float(after))
            delay = min(delay, left)
            failures += 1
            if on_reconnect is not None:
                on_reconnect(failures, delay, why)
            time.sleep(delay)
            return True

        while True:
            extra = {"Accept": "text/event-stream"}
            if last_id is not None:
                extra["Last-Event-ID"] = last_id
            try:
                timeout = httpx.Timeout(self._timeout, read=None)  # the server pings every 15 s
                with self._http.stream(
                    "GET", self.url + path, headers=self._headers(extra), timeout=timeout
                ) as response:
                    if not response.is_success:
                        response.read()
                        if response.status_code in RETRY_STATUSES and wait(
                            f"the server answered {response.status_code}", response
                        ):
                            continue
                        raise error_from_response(response, url=self.url)
                    for event in parse_events(response.iter_lines()):
                        failures, broken_since = 0, None
                        last_id = event.id or last_id
                        yield event
                        if event.event == "done":
                            return
            except httpx.TransportError as exc:
                if not wait(f"{type(exc).__name__}: {exc}"):
                    raise unreachable(self.url, exc, self.config.note) from None
                continue
            # The server closed the stream without `done` (restart, proxy timeout): follow again.
            if not wait("the server closed the event stream"):
                raise Unreachable(
                    f"the event stream of experiment {experiment_id} kept breaking for "
                    f"{window:.0f} s; check the server at {self.url}, then watch it again"
                )

    # -- runs -------------------------------------------------------------------------------
    def run(self, run_id: int) -> RunDetail:
        return RunDetail.model_validate(self.get_json(f"/v1/runs/{int(run_id)}"))

    def curves(self, experiment: int | Experiment, metrics: list[str] | None = None) -> DataFrame:
        """The experiment's learning curves as a tidy DataFrame (needs pandas, from
        `cortexrnn[science]`): one row per point with run_id, condition, seed, task, metric,
        step, epoch and value. `metrics` narrows to those names, e.g. ["test_acc"]."""
        experiment_id = experiment.id if isinstance(experiment, Experiment) else int(experiment)
        return Experiment(self, experiment_id).curves(metrics)

    def metrics(self, run_id: int, names: list[str] | None = None) -> RunMetrics:
        """One run's metric time series (RunMetrics.series: name, steps, epochs, values);
        `names` narrows to those metrics. The tidy table of a whole experiment: `curves`."""
        return RunMetrics.model_validate(
            self.get_json(f"/v1/runs/{int(run_id)}/metrics", name=names)
        )

    def download_weights(self, run_id: int, path: str | Path) -> Path:
        """Save a run's weights to `path` (an .npz of numeric arrays: initial, after every
        epoch, final; open it with numpy.load); returns the path. NotFound until the run has
        weights."""
        response = self.request(
            "GET", f"/v1/runs/{int(run_id)}/weights", headers={"Accept": "application/octet-stream"}
        )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(response.content)
        return path

    # -- datasets ---------------------------------------------------------------------------
    def datasets(self) -> list[DatasetOut]:
        return [DatasetOut.model_validate(d) for d in self.get_json("/v1/datasets")]

    def dataset(self, name: str) -> DatasetOut:
        return DatasetOut.model_validate(self.get_json(f"/v1/datasets/{quote(name, safe='')}"))

    def upload_dataset(
        self,
        path: str | Path,
        name: str,
        *,
        format: str = "auto",
        on_step: Callable[[str], None] | None = None,
    ) -> DatasetOut:
        """Convert the user's field folders (pickled .npy included) or CAVE tables to safe
        numeric files on this machine, zip them and upload. `path` may also be a ready .zip."""
        try:  # fail before converting and packing when the name is taken
            self.dataset(name)
        except NotFound:
            pass
        else:
            raise Refused(f"name: a dataset called {name!r} exists already; choose another name")
        # Uploads are never retried: the server's name check makes a resend a 409.
        with (
            packed_upload(Path(path), format, on_step=on_step) as (archive, fmt),
            open(archive, "rb") as fh,
        ):
            response = self.request(
                "POST",
                "/v1/datasets",
                files={"file": (archive.name, fh, "application/zip")},
                data={"name": name, "format": fmt},
            )
        return DatasetOut.model_validate(response.json())


__all__ = ["Client", "ClientError", "Experiment", "failure_line", "validate_spec"]
