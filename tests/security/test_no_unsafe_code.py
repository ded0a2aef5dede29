"""No server path unpickles, evals or shells out: a static scan of api/, worker/, shared/ and
services/ (services/connectome/local.py is the documented user-side unpickler and is left
out), and the Celery app accepts JSON only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVER_FOLDERS = ("api", "worker", "shared", "services")
USER_SIDE_ONLY = {Path("services/connectome/local.py")}
LOCAL_UNPICKLERS = {"ingest_field_folders", "convert_field_folder_local", "load_user_npy_local"}

FORBIDDEN_CALLS = {
    "pickle.load",
    "pickle.loads",
    "pickle.Unpickler",
    "cPickle.load",
    "cPickle.loads",
    "dill.load",
    "dill.loads",
    "joblib.load",
    "marshal.load",
    "marshal.loads",
    "shelve.open",
    "pd.read_pickle",
    "pandas.read_pickle",
    "yaml.load",
    "yaml.unsafe_load",
    "yaml.full_load",
    "eval",
    "exec",
    "os.system",
    "os.popen",
    "os.execv",
    "os.execvp",
    "os.spawnv",
    "asyncio.create_subprocess_shell",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def unsafe_calls(source: str) -> list[str]:
    """Calls that unpickle, eval or start a shell, with their line numbers."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        kwargs = {k.arg: k.value for k in node.keywords if k.arg}
        where = f"line {node.lineno}: {ast.unparse(node)[:120]}"
        if name in FORBIDDEN_CALLS or name in ("builtins.eval", "builtins.exec"):
            found.append(where)
        if (
            isinstance(kwargs.get("allow_pickle"), ast.Constant)
            and kwargs["allow_pickle"].value is not False
        ):
            found.append(where)
        if "shell" in kwargs and not (
            isinstance(kwargs["shell"], ast.Constant) and kwargs["shell"].value is False
        ):
            found.append(where)
        if name.endswith("torch.load"):
            weights_only = kwargs.get("weights_only")
            if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                found.append(where)
        if name.split(".")[-1] in LOCAL_UNPICKLERS:
            found.append(where)
    return found


def server_modules() -> list[Path]:
    files = [p for folder in SERVER_FOLDERS for p in sorted((REPO / folder).rglob("*.py"))]
    return [p for p in files if p.relative_to(REPO) not in USER_SIDE_ONLY]


@pytest.mark.parametrize(
    "snippet",
    [
        "import pickle\npickle.loads(data)",
        "np.load(path, allow_pickle=True)",
        "eval(request.query)",
        "exec(code)",
        "os.system('ls ' + name)",
        "subprocess.run(cmd, shell=True)",
        "subprocess.Popen(cmd, shell=flag)",
        "torch.load(path)",
        "torch.load(path, weights_only=False)",
        "yaml.load(text)",
        "pd.read_pickle(p)",
        "ingest_field_folders([p], 'x')",
    ],
)
def test_the_scanner_finds_each_pattern(snippet: str) -> None:
    assert unsafe_calls(snippet), snippet


def test_the_scanner_lets_safe_calls_through() -> None:
    assert (
        unsafe_calls(
            "np.load(p, allow_pickle=False)\ntorch.load(p, weights_only=True)\n"
            "yaml.safe_load(t)\nsubprocess.run(['git', 'status'], shell=False)\nliteral_eval('1')"
        )
        == []
    )


def test_no_server_module_unpickles_evals_or_shells_out() -> None:
    modules = server_modules()
    assert len(modules) > 50 and REPO / "api" / "uploads.py" in modules
    problems = {
        str(p.relative_to(REPO)): found for p in modules if (found := unsafe_calls(p.read_text()))
    }
    assert problems == {}


def test_no_server_module_imports_the_user_side_unpickler() -> None:
    for p in server_modules():
        if p.relative_to(REPO).parts[0] == "services":
            # services/connectome/__init__ re-exports it for the CLI; calls are checked above
            continue
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.endswith("connectome.local"), p
                assert not ({a.name for a in node.names} & LOCAL_UNPICKLERS), p


def test_celery_speaks_json_only() -> None:
    from cortexrnn.worker.celery_app import celery_app, make_celery

    for app in (celery_app, make_celery()):
        conf = app.conf
        assert list(conf.accept_content) == ["json"]
        assert conf.task_serializer == "json" and conf.result_serializer == "json"
        assert conf.result_accept_content in (None, ["json"])
        assert conf.event_serializer == "json"
