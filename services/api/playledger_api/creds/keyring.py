"""Where the API's KEKs come from: ``PLAYLEDGER_SECRETS_KEY``, else ``PLAYLEDGER_SECRETS_KEY_FILE``.

The file is read again on ``reload()`` (rotation, or a data key wrapped by an id this process
does not know yet: another API process rotated), so rotating needs no restart anywhere.
"""

from __future__ import annotations

from playledger_common.kekfile import Keyring, KeyringError, parse_key_file, single_key
from playledger_common.settings import ApiSettings

NOT_CONFIGURED = (
    "stored credentials need a key-encryption key: set PLAYLEDGER_SECRETS_KEY (32 random bytes, "
    "base64) or PLAYLEDGER_SECRETS_KEY_FILE"
)


class KeySource:
    def __init__(self, settings: ApiSettings) -> None:
        self.env_key = settings.secrets_key
        self.path = settings.secrets_key_file
        self._ring: Keyring | None = None

    @property
    def configured(self) -> bool:
        return self.env_key is not None or self.path is not None

    def ring(self) -> Keyring:
        if self._ring is None:
            self._ring = self._read()
        return self._ring

    def reload(self) -> Keyring:
        self._ring = self._read()
        return self._ring

    def _read(self) -> Keyring:
        if self.env_key is not None:
            return single_key(self.env_key)
        if self.path is None:
            raise KeyringError(NOT_CONFIGURED)
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            msg = f"cannot read PLAYLEDGER_SECRETS_KEY_FILE {self.path}: {exc.strerror}"
            raise KeyringError(msg) from None
        return parse_key_file(text, str(self.path))
