"""Which engine, by the docker CLI's rules, from crafted configs and context stores."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.support.running import invoke
from workshop.engine.endpoint import DEFAULT_HOST, find_endpoint
from workshop.errors import EngineUnavailable


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
