"""OCPP 2.1 adapter: everything the 2.0.1 adapter does, over ``ocpp.v21`` (V2X additions live in the handlers).

The `ocpp` library's 2.1 support has two defects that this module neutralises, each proven by a test:

* unhandled inbound actions are silently dropped: :class:`~chargepoint.ocpp.strict.StrictRouter` answers every
  CALL itself (NotImplemented for an unknown action, NotSupported for a known one without a handler) before the
  library's router could drop it;
* ``*_L2`` / ``*_L3`` and ``soc`` keys are serialised wrongly: :mod:`chargepoint.ocpp.keyfix` replaces the key
  conversion with one derived from the 2.1 schemas.
"""

from __future__ import annotations

from typing import ClassVar

import ocpp.v21

from chargepoint.ocpp import keyfix
from chargepoint.ocpp.v21_v2x import V21V2X
from chargepoint.ocpp.v201 import V201Adapter

keyfix.install()


class V21Adapter(V21V2X, V201Adapter):
    version: ClassVar[str] = "2.1"
    subprotocol: ClassVar[str] = "ocpp2.1"
    ocpp_module = ocpp.v21
    _ocpp_version = "2.1"
