"""Which engine, by the docker CLI's rules, from crafted configs and context stores."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path

import docker
import pytest
import trustme

from tests.support.running import invoke
from workshop.engine.client import Engine
from workshop.engine.endpoint import DEFAULT_HOST, TLS_FILES, _EngineClient, find_endpoint
from workshop.engine.values import ELSEWHERE, HERE, VM, Timeouts
from workshop.errors import EngineUnavailable, TimedOut


def make_context(config: Path, name: str, host: str, *, tls: tuple[str, ...] = ()) -> Path:
    """A context as `docker context create` stores it."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / digest / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(
        json.dumps(
            {
                "Name": name,
                "Metadata": {},
                "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}},
            }
        )
    )
    tls_dir = config / "contexts" / "tls" / digest / "docker"
    for file in tls:
        tls_dir.mkdir(parents=True, exist_ok=True)
        (tls_dir / file).write_text("-----BEGIN CERTIFICATE-----\n")
    return tls_dir


def use(config: Path, name: str) -> None:
    config.mkdir(exist_ok=True)
    (config / "config.json").write_text(json.dumps({"currentContext": name}))


def test_with_nothing_chosen_it_is_the_default_socket(tmp_path: Path) -> None:
    endpoint = find_endpoint({"DOCKER_CONFIG": str(tmp_path)})
    assert (endpoint.host, endpoint.context) == (DEFAULT_HOST, "default")


def test_the_current_context_is_used(tmp_path: Path) -> None:
    make_context(tmp_path, "colima", "unix:///run/colima.sock")
    use(tmp_path, "colima")
    endpoint = find_endpoint({"DOCKER_CONFIG": str(tmp_path)})
    assert (endpoint.host, endpoint.context) == ("unix:///run/colima.sock", "colima")
    assert str(tmp_path / "config.json") in endpoint.chosen_by


def test_docker_context_beats_the_config_and_docker_host_beats_both(tmp_path: Path) -> None:
    make_context(tmp_path, "colima", "unix:///run/colima.sock")
    make_context(tmp_path, "remote", "tcp://10.0.0.2:2376")
    use(tmp_path, "colima")
    environ = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "remote"}
    assert find_endpoint(environ).host == "tcp://10.0.0.2:2376"
    environ["DOCKER_HOST"] = "unix:///elsewhere.sock"
    endpoint = find_endpoint(environ)
    assert (endpoint.host, endpoint.chosen_by) == ("unix:///elsewhere.sock", "from DOCKER_HOST")


def test_the_default_context_is_the_default_socket(tmp_path: Path) -> None:
    use(tmp_path, "default")
    assert find_endpoint({"DOCKER_CONFIG": str(tmp_path)}).host == DEFAULT_HOST


def test_a_context_that_does_not_exist_is_named(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match=r"The docker context .nosuch. .* does not exist"):
        find_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "nosuch"})


def test_a_config_that_is_not_json_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(EngineUnavailable, match=r"config.json is not JSON"):
        find_endpoint({"DOCKER_CONFIG": str(tmp_path)})


def test_tls_material_with_a_file_missing_is_named(tmp_path: Path) -> None:
    make_context(tmp_path, "remote", "tcp://10.0.0.2:2376", tls=("ca.pem", "cert.pem"))
    use(tmp_path, "remote")
    with pytest.raises(EngineUnavailable, match=r"lacks key\.pem"):
        find_endpoint({"DOCKER_CONFIG": str(tmp_path)})


def test_docker_tls_verify_without_its_files_is_named(tmp_path: Path) -> None:
    environ = {
        "DOCKER_HOST": "tcp://10.0.0.2:2376",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(tmp_path),
    }
    with pytest.raises(EngineUnavailable, match=r"lacks ca\.pem, cert\.pem, key\.pem"):
        find_endpoint(environ)


def test_a_context_with_tls_gives_its_files(tmp_path: Path) -> None:
    tls_dir = make_context(
        tmp_path, "remote", "tcp://10.0.0.2:2376", tls=("ca.pem", "cert.pem", "key.pem")
    )
    use(tmp_path, "remote")
    endpoint = find_endpoint({"DOCKER_CONFIG": str(tmp_path)})
    assert endpoint.tls is not None and not isinstance(endpoint.tls, bool)
    assert endpoint.tls.cert == (str(tls_dir / "cert.pem"), str(tls_dir / "key.pem"))


def test_buildx_is_pointed_at_the_same_engine(tmp_path: Path) -> None:
    make_context(tmp_path, "colima", "unix:///run/colima.sock")
    use(tmp_path, "colima")
    environ = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_HOST": ""}
    cli = find_endpoint(environ).cli_environment(environ)
    assert cli["DOCKER_CONTEXT"] == "colima" and "DOCKER_HOST" not in cli
    by_host = find_endpoint({"DOCKER_HOST": "unix:///x.sock"}).cli_environment({})
    assert by_host == {"DOCKER_HOST": "unix:///x.sock"}


def test_a_task_says_which_file_is_broken_with_the_engine_code(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    result = invoke(
        "step-7",
        env={
            "DOCKER_CONFIG": str(tmp_path),
            "DOCKER_HOST": "",
            "INVOKE_WORKSHOP_WORKSPACE": str(tmp_path / "ws"),
            "INVOKE_WORKSHOP_SIZE_LOG": str(tmp_path / "s.json"),
        },
    )
    assert result.returncode == 3
    assert f"The docker config {tmp_path / 'config.json'} is not JSON" in " ".join(
        result.stderr.split()
    )


@pytest.mark.parametrize(
    "endpoints",
    [[], {"docker": []}, {"docker": {"Host": 5}}, "x"],
    ids=["list", "docker-list", "host-int", "text"],
)
def test_a_context_of_the_wrong_shape_is_a_message(tmp_path: Path, endpoints: object) -> None:
    make_context(tmp_path, "odd", "unix:///x.sock")
    digest = hashlib.sha256(b"odd").hexdigest()
    meta = tmp_path / "contexts" / "meta" / digest / "meta.json"
    meta.write_text(json.dumps({"Name": "odd", "Endpoints": endpoints}))
    with pytest.raises(EngineUnavailable, match="names no docker endpoint"):
        find_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "odd"})


def test_a_context_whose_meta_json_is_a_fifo_does_not_hang(tmp_path: Path) -> None:
    make_context(tmp_path, "fifo", "unix:///x.sock")
    meta = tmp_path / "contexts" / "meta" / hashlib.sha256(b"fifo").hexdigest() / "meta.json"
    meta.unlink()
    os.mkfifo(meta)
    with pytest.raises(EngineUnavailable, match="not a regular file"):
        find_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "fifo"})


def test_a_docker_config_that_is_a_fifo_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "config.json")
    with pytest.raises(EngineUnavailable, match="not a regular file"):
        find_endpoint({"DOCKER_CONFIG": str(tmp_path)})


@pytest.mark.parametrize("host", ["tcp://[::1", "tcp://host:port", "tcp://host:99999"])
def test_a_docker_host_that_is_no_address_is_a_message(host: str) -> None:
    with pytest.raises(EngineUnavailable, match="DOCKER_HOST"):
        find_endpoint({"DOCKER_HOST": host})


# A port an engine on another host publishes is bound to all its addresses, for us to reach.
ANY = "0.0.0.0"  # noqa: S104


@pytest.mark.parametrize(
    ("host", "kind", "published_on", "bind_to"),
    [
        (DEFAULT_HOST, HERE, "127.0.0.1", "127.0.0.1"),
        ("unix:///Users/ann/.colima/default/docker.sock", VM, "127.0.0.1", "127.0.0.1"),
        ("unix:///Users/ann/.docker/run/docker.sock", VM, "127.0.0.1", "127.0.0.1"),
        ("tcp://10.0.0.2:2376", ELSEWHERE, "10.0.0.2", ANY),
        ("ssh://root@build-host", ELSEWHERE, "build-host", ANY),
        ("ssh://me@localhost:2222", HERE, "127.0.0.1", "127.0.0.1"),
        ("tcp://127.0.0.1:2375", HERE, "127.0.0.1", "127.0.0.1"),
    ],
)
def test_where_the_engine_is_and_where_its_ports_are_reached(
    host: str, kind: str, published_on: str, bind_to: str
) -> None:
    where = find_endpoint({"DOCKER_HOST": host}).where()
    assert (where.kind, where.published_on, where.bind_to) == (kind, published_on, bind_to)
    assert where.shares_loopback == where.shares_kernel == (kind == HERE)
    assert bool(where.consequences()) == (kind != HERE)


def test_docker_desktop_is_a_vm_whatever_its_socket() -> None:
    where = find_endpoint({"DOCKER_HOST": DEFAULT_HOST}).where("Docker Desktop")
    assert (where.kind, where.said) == (VM, "a VM on this machine (Docker Desktop)")


def test_the_engines_ca_is_kept_when_a_ca_bundle_is_set_for_everything_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests would let REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE replace the CA docker-py gave
    it (docker-py #2433): the engine's own CA must stay, and a proxy setting still apply."""
    for name in TLS_FILES:
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\n")
    environ = {"DOCKER_HOST": "tcp://10.0.0.2:2376", "DOCKER_CERT_PATH": str(tmp_path)}
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(variable, str(tmp_path / "company-ca.pem"))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    url = "https://10.0.0.2:2376/version"
    plain = docker.APIClient(  # what docker-py does by itself
        base_url=environ["DOCKER_HOST"], tls=find_endpoint(environ).tls or False, version="1.41"
    )
    assert plain.merge_environment_settings(url, {}, None, None, None)["verify"] == str(
        tmp_path / "company-ca.pem"
    )
    for verify, kept in ((True, str(tmp_path / "ca.pem")), (False, False)):
        environ["DOCKER_TLS_VERIFY"] = "1" if verify else ""
        client = _EngineClient(
            base_url=environ["DOCKER_HOST"], tls=find_endpoint(environ).tls or False, version="1.41"
        )
        settings = client.merge_environment_settings(url, {}, None, None, None)
        assert settings["verify"] == kept
        assert settings["proxies"]["https"] == "http://proxy.invalid:3128"


def test_a_local_socket_is_reached_without_the_environments_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A proxy set for the company's network is for tcp:// (the test above); a unix socket
    has none, and requests need not read the environment for each request to find that."""
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "")
    local = _EngineClient(base_url="unix:///var/run/docker.sock", version="1.41")
    assert not local.trust_env
    url = f"{local.base_url}/version"
    assert local.merge_environment_settings(url, {}, None, None, None)["proxies"] == {}
    remote = _EngineClient(base_url="tcp://10.0.0.2:2375", version="1.41")
    settings = remote.merge_environment_settings(
        "http://10.0.0.2:2375/version", {}, None, None, None
    )
    assert remote.trust_env and settings["proxies"]["http"] == "http://proxy.invalid:3128"


def test_ssh_without_the_sdks_ssh_support_is_one_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None)
    with pytest.raises(EngineUnavailable, match=r"the Docker SDK's ssh support is not installed"):
        find_endpoint({"DOCKER_HOST": "ssh://root@build-host"}).client(timeout=5)


def test_an_engine_that_takes_the_connection_and_never_answers_times_out_in_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()
        with pytest.raises(TimedOut) as raised:
            Engine.from_env(timeouts=Timeouts(engine=2))
    assert time.monotonic() - started < 10
    assert "did not answer within 2 s (workshop.engine_timeout)" in raised.value.message
    assert raised.value.exit_code == 4 and "Start one" not in raised.value.message


def test_a_certificate_that_does_not_verify_names_the_ca_and_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine whose certificate another CA signed: the message names the CA used and the
    host, and does not say to start an engine."""
    theirs, ours = trustme.CA(), trustme.CA()
    served = theirs.issue_cert("127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.configure_cert(server_context)
    ours.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    mine = ours.issue_cert("client")
    mine.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    mine.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        stop = threading.Event()

        def handshake() -> None:
            listener.settimeout(0.2)
            while not stop.is_set():
                try:
                    connection, _ = listener.accept()
                except OSError:
                    continue
                with suppress(OSError), server_context.wrap_socket(connection, server_side=True):
                    pass

        thread = threading.Thread(target=handshake, daemon=True)
        thread.start()
        port = listener.getsockname()[1]
        for name, value in {
            "DOCKER_HOST": f"tcp://127.0.0.1:{port}",
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(tmp_path),
            "REQUESTS_CA_BUNDLE": str(tmp_path / "cert.pem"),
        }.items():
            monkeypatch.setenv(name, value)
        try:
            with pytest.raises(EngineUnavailable) as raised:
                Engine.from_env(timeouts=Timeouts(engine=5))
        finally:
            stop.set()
            thread.join(timeout=5)
    message = raised.value.message
    assert f"tcp://127.0.0.1:{port}" in message and str(tmp_path / "ca.pem") in message
    assert "TLS with it failed" in message and "Start one" not in message


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs OpenSSH's client")
def test_an_ssh_host_that_takes_the_connection_and_never_answers_times_out_in_words() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        host = f"ssh://root@127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(TimedOut) as raised:
            find_endpoint({"DOCKER_HOST": host}).client(timeout=2)
    assert time.monotonic() - started < 10
    assert f"{host} did not answer over ssh within 2 s (workshop.engine_timeout)" in (
        raised.value.message
    )


def test_paramiko_is_loaded_for_an_ssh_engine_alone() -> None:
    """docker-py imports paramiko for ssh:// alone; a task that asks any other engine does not
    load it (35 ms of every start), and an ssh:// engine gets docker-py's ssh transport whole."""
    probe = (
        "import sys\n"
        "import workshop.engine.client\n"
        "print(sys.modules.get('paramiko') is None)\n"
        "from workshop.engine.endpoint import load_ssh_support\n"
        "load_ssh_support('ssh://root@build-host')\n"
        "import docker.api.client\n"
        "from docker.transport.sshconn import SSHHTTPAdapter\n"
        "print(sys.modules['paramiko'].SSHClient.__name__,"
        " docker.api.client.SSHHTTPAdapter is SSHHTTPAdapter)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "SSHClient", "True"]
