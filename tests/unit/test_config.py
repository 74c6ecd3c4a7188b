"""Service configuration: defaults, then the TOML file, then PRICING_* env, then flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from pricing_service.config import ServiceConfig, load_config


def test_defaults_are_loopback_default_policy_local_log() -> None:
    config = load_config(env={})
    assert config == ServiceConfig()
    assert (config.listen, config.policy_paths, config.audit_dir) == (
        "127.0.0.1:50051",
        (),
        Path("var/audit"),
    )
    assert (config.audit_fsync, config.so_reuseport, config.server_mode) == (True, False, "sync")


def test_file_then_env_then_overrides_take_precedence(tmp_path: Path) -> None:
    conf = tmp_path / "pricing.toml"
    conf.write_text(
        '[service]\nlisten = "0.0.0.0:6000"\naudit_fsync = false\nmax_workers = 8\n'
        'policy_paths = ["a.toml", "dir"]\n'
    )
    config = load_config(
        env={"PRICING_CONFIG": str(conf), "PRICING_MAX_WORKERS": "12", "PRICING_AUDIT_DIR": "/x"},
        listen="127.0.0.1:7000",
    )
    assert config.listen == "127.0.0.1:7000"  # flag beats file
    assert config.max_workers == 12  # env beats file
    assert config.audit_fsync is False  # from the file
    assert config.audit_dir == Path("/x")
    assert config.policy_paths == (Path("a.toml"), Path("dir"))


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("yes", True), ("off", False)])
def test_env_booleans(raw: str, expected: bool) -> None:
    assert load_config(env={"PRICING_SO_REUSEPORT": raw}).so_reuseport is expected


def test_bad_settings_are_refused_with_the_name(tmp_path: Path) -> None:
    conf = tmp_path / "pricing.toml"
    conf.write_text('listn = "x"\n')
    with pytest.raises(ValueError, match="unknown settings listn"):
        load_config(conf, env={})
    with pytest.raises(ValueError, match="audit_fsync: not a boolean"):
        load_config(env={"PRICING_AUDIT_FSYNC": "maybe"})
    with pytest.raises(ValueError, match="server_mode must be"):
        load_config(env={"PRICING_SERVER_MODE": "threads"})
