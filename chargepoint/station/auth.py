"""Authorization: local authorization list, authorization cache and the decision policy.

Sans-I/O: :meth:`Authorizer.local_decision` answers from local data when the policy allows it; otherwise the caller
asks the CSMS and reports back through :meth:`Authorizer.remember`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from chargepoint.station.types import AuthInfo, AuthStatus


class LocalListError(ValueError):
    """A SendLocalList request that cannot be applied (maps to Failed / VersionMismatch)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class LocalAuthList:
    version: int = 0
    entries: dict[str, AuthInfo] | None = None
    max_length: int = 1000

    def __post_init__(self) -> None:
        if self.entries is None:
            self.entries = {}

    def get(self, id_token: str) -> AuthInfo | None:
        assert self.entries is not None
        return self.entries.get(id_token)

    def update(self, version: int, full: bool, items: list[tuple[str, AuthInfo | None]]) -> None:
        """Apply a SendLocalList. ``items``: (id, info) with ``None`` meaning delete (differential only).

        Raises LocalListError('VersionMismatch') for a differential update whose version is not newer, and
        LocalListError('Failed') when the list would exceed ``max_length`` or a full update deletes entries.
        Nothing changes when an error is raised.
        """
        assert self.entries is not None
        if version <= 0:
            raise LocalListError("Failed", f"listVersion must be > 0, got {version}")
        if full:
            new: dict[str, AuthInfo] = {}
            for token, info in items:
                if info is None:
                    raise LocalListError("Failed", f"full update carries entry {token!r} without idTagInfo")
                new[token] = info
        else:
            if version <= self.version:
                raise LocalListError(
                    "VersionMismatch", f"differential update version {version} <= current {self.version}"
                )
            new = dict(self.entries)
            for token, info in items:
                if info is None:
                    new.pop(token, None)
                else:
                    new[token] = info
        if len(new) > self.max_length:
            raise LocalListError("Failed", f"local list would hold {len(new)} entries > max {self.max_length}")
        self.entries = new
        self.version = version

    def clear(self) -> None:
        self.entries = {}
        self.version = 0


class AuthCache:
    """Least-recently-used cache of CSMS authorization answers, honouring expiry dates."""

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, AuthInfo] = OrderedDict()

    def get(self, id_token: str, now: datetime) -> AuthInfo | None:
        info = self._entries.get(id_token)
        if info is None:
            return None
        self._entries.move_to_end(id_token)
        if info.expiry is not None and info.expiry <= now and info.status == AuthStatus.ACCEPTED:
            return AuthInfo(AuthStatus.EXPIRED, info.expiry, info.parent_id)
        return info

    def put(self, id_token: str, info: AuthInfo) -> None:
        self._entries[id_token] = info
        self._entries.move_to_end(id_token)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class AuthPolicy:
    local_auth_list_enabled: bool = True
    cache_enabled: bool = True
    local_pre_authorize: bool = False  # answer from local data while online, without asking the CSMS
    local_authorize_offline: bool = True
    allow_offline_tx_for_unknown_id: bool = False
    free_vend: bool = False  # every token is accepted without asking anyone
    free_vend_id: str = "freevend"


class Authorizer:
    def __init__(self, policy: AuthPolicy | None = None) -> None:
        self.policy = policy or AuthPolicy()
        self.local_list = LocalAuthList()
        self.cache = AuthCache()

    def local_lookup(self, id_token: str, now: datetime) -> AuthInfo | None:
        if self.policy.local_auth_list_enabled:
            info = self.local_list.get(id_token)
            if info is not None:
                return info
        if self.policy.cache_enabled:
            return self.cache.get(id_token, now)
        return None

    def local_decision(self, id_token: str, now: datetime, online: bool) -> AuthInfo | None:
        """The answer from local data, or None when the CSMS must be asked (or, offline, nobody can answer)."""
        if self.policy.free_vend:
            return AuthInfo(AuthStatus.ACCEPTED)
        if online and not self.policy.local_pre_authorize:
            return None
        info = self.local_lookup(id_token, now)
        if online:
            # Pre-authorize only on a positive local answer; anything else is re-checked with the CSMS.
            return info if info is not None and info.accepted else None
        if not self.policy.local_authorize_offline:
            return AuthInfo(AuthStatus.INVALID) if not self.policy.allow_offline_tx_for_unknown_id else None
        if info is not None:
            return info
        if self.policy.allow_offline_tx_for_unknown_id:
            return AuthInfo(AuthStatus.ACCEPTED)
        return AuthInfo(AuthStatus.INVALID)

    def remember(self, id_token: str, info: AuthInfo) -> None:
        """Record a CSMS answer in the cache (not for tokens in the local list, which the list governs)."""
        if not self.policy.cache_enabled:
            return
        if self.policy.local_auth_list_enabled and self.local_list.get(id_token) is not None:
            return
        self.cache.put(id_token, info)
