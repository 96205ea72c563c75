"""Settings: names exactly as documented, defaults, and one clear error naming the setting."""
import pytest

from config import DEFAULT_API_URL, SettingsError, load_settings

GOOD = {"VK_TOKEN": "vk1.a.secret-token-value", "VK_GROUP_ID": "123", "MANAGER_IDS": "1, 2,2"}


def load(**overrides):
    env = {**GOOD, **overrides}
    return load_settings(env={k: v for k, v in env.items() if v is not None}, dotenv_path=None)


def test_defaults():
    s = load()
    assert s.vk_group_id == 123
    assert s.manager_ids == (1, 2)
    assert s.vk_api_url == DEFAULT_API_URL
    assert s.vk_api_version == "5.199"
    assert s.timezone == "Europe/Moscow"
    assert s.database_url.startswith("sqlite:///")
    assert s.scenarios == ("services", "booking")


@pytest.mark.parametrize(
    "name, value",
    [
        ("VK_TOKEN", None), ("VK_TOKEN", "short"), ("VK_GROUP_ID", "abc"), ("VK_GROUP_ID", "-5"),
        ("MANAGER_IDS", ""), ("MANAGER_IDS", "1,x"), ("VK_API_URL", "ftp://x"), ("VK_API_VERSION", "5.92"),
        ("VK_API_VERSION", "six"), ("TIMEZONE", "Mars/Olympus"), ("LOG_LEVEL", "LOUD"),
        ("SCENARIOS", "pizza"), ("DATABASE_URL", "mysql://x"), ("LONGPOLL_WAIT", "500"),
    ],
)
def test_bad_setting_is_named(name, value):
    with pytest.raises(SettingsError) as err:
        load(**{name: value})
    assert err.value.name == name
    assert name in str(err.value)


def test_token_never_in_repr_or_error():
    s = load()
    assert GOOD["VK_TOKEN"] not in repr(s)
    with pytest.raises(SettingsError) as err:
        load(VK_TOKEN="bad token with spaces")
    assert "bad token" not in str(err.value)


def test_dotenv_file_read_and_environment_wins(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text('VK_TOKEN = "from-dotenv-token"\nVK_GROUP_ID=7\nMANAGER_IDS=9\nTIMEZONE=Europe/Berlin\n')
    for name in ("VK_TOKEN", "VK_GROUP_ID", "MANAGER_IDS", "TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VK_GROUP_ID", "8")
    s = load_settings(dotenv_path=env_file)
    assert s.vk_token == "from-dotenv-token"
    assert s.vk_group_id == 8
    assert s.timezone == "Europe/Berlin"


def test_example_file_documents_every_setting():
    from pathlib import Path

    example = (Path(__file__).resolve().parents[1] / "settings.py.example").read_text()
    for name in ("VK_TOKEN", "VK_GROUP_ID", "MANAGER_IDS", "DATABASE_URL", "VK_API_URL", "VK_API_VERSION",
                 "TIMEZONE", "LOG_LEVEL", "SCENARIOS", "CATALOGUE_PATH", "LONGPOLL_WAIT"):
        assert f"\n{name}" in example, name
