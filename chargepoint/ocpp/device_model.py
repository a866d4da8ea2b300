"""The OCPP 2.x device model: components, variables, attributes and characteristics.

Protocol-agnostic engine used by the 2.0.1 (and 2.1) adapters. A :class:`Variable` belongs to a :class:`Component`
(name, optional instance, optional EVSE / connector) and has one to four attributes (Actual, Target, MinSet, MaxSet).
An attribute's value either lives here (``value``) or is *bound*: a getter/setter pair reading and writing the
neutral station model, so a variable and the setting it names can never disagree.

Values travel as OCPP strings. Writes are validated against the variable's characteristics (data type, limits,
value lists) before a setter runs; a setter may raise :class:`ValueError` to reject a value the model refuses.
Names compare case-insensitively, as the specification requires.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

log = logging.getLogger("chargepoint.ocpp.device_model")


class AttributeType(StrEnum):
    ACTUAL = "Actual"
    TARGET = "Target"
    MIN_SET = "MinSet"
    MAX_SET = "MaxSet"


class Mutability(StrEnum):
    READ_ONLY = "ReadOnly"
    WRITE_ONLY = "WriteOnly"
    READ_WRITE = "ReadWrite"


class DataType(StrEnum):
    STRING = "string"
    DECIMAL = "decimal"
    INTEGER = "integer"
    DATE_TIME = "dateTime"
    BOOLEAN = "boolean"
    OPTION_LIST = "OptionList"
    SEQUENCE_LIST = "SequenceList"
    MEMBER_LIST = "MemberList"


LIST_TYPES = (DataType.SEQUENCE_LIST, DataType.MEMBER_LIST)
TEXT_TYPES = (DataType.STRING, DataType.OPTION_LIST, DataType.SEQUENCE_LIST, DataType.MEMBER_LIST)


class GetStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    UNKNOWN_COMPONENT = "UnknownComponent"
    UNKNOWN_VARIABLE = "UnknownVariable"
    NOT_SUPPORTED_ATTRIBUTE_TYPE = "NotSupportedAttributeType"


class SetStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    UNKNOWN_COMPONENT = "UnknownComponent"
    UNKNOWN_VARIABLE = "UnknownVariable"
    NOT_SUPPORTED_ATTRIBUTE_TYPE = "NotSupportedAttributeType"
    REBOOT_REQUIRED = "RebootRequired"


class ReportBase(StrEnum):
    CONFIGURATION_INVENTORY = "ConfigurationInventory"
    FULL_INVENTORY = "FullInventory"
    SUMMARY_INVENTORY = "SummaryInventory"


# Variables a SummaryInventory reports (current availability and problem conditions).
SUMMARY_VARIABLES = frozenset({"availabilitystate", "available", "problem", "tripped", "overload", "fallback"})

Getter = Callable[[], str | None]
Setter = Callable[[str], None]
Validator = Callable[[str], None]


@dataclass(frozen=True)
class Component:
    name: str
    instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None

    @property
    def key(self) -> tuple[str, str | None, int | None, int | None]:
        return (self.name.lower(), self.instance.lower() if self.instance else None, self.evse_id, self.connector_id)

    def to_ocpp(self) -> dict[str, Any]:
        """ComponentType (snake_case keys, as the ``ocpp`` library serializes them)."""
        out: dict[str, Any] = {"name": self.name}
        if self.instance:
            out["instance"] = self.instance
        if self.evse_id is not None:
            evse: dict[str, Any] = {"id": self.evse_id}
            if self.connector_id is not None:
                evse["connector_id"] = self.connector_id
            out["evse"] = evse
        return out

    @classmethod
    def from_ocpp(cls, data: dict[str, Any]) -> Component:
        evse = data.get("evse") or {}
        return cls(data["name"], data.get("instance"), evse.get("id"), evse.get("connector_id"))


@dataclass
class Attribute:
    mutability: Mutability = Mutability.READ_ONLY
    getter: Getter | None = None
    setter: Setter | None = None
    value: str | None = None  # the stored value of an unbound attribute
    persistent: bool = False
    constant: bool = False
    pending: str | None = None  # a reboot-required write waiting for the next boot

    def read(self) -> str | None:
        if self.pending is not None:
            return self.pending
        if self.getter is not None:
            return self.getter()
        return self.value

    def write(self, value: str) -> None:
        if self.setter is not None:
            self.setter(value)
        if self.getter is None:
            self.value = value


@dataclass
class Variable:
    component: Component
    name: str
    data_type: DataType
    attributes: dict[AttributeType, Attribute]
    instance: str | None = None
    unit: str | None = None
    min_limit: float | None = None  # numbers: lowest value; strings and lists: shortest length
    max_limit: float | None = None  # numbers: highest value; strings and lists: longest length
    values_list: tuple[str, ...] | None = None
    reboot_required: bool = False
    supports_monitoring: bool = False
    validator: Validator | None = None  # extra check after the characteristics (raise ValueError)
    description: str = ""

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.name.lower(), self.instance.lower() if self.instance else None)

    def to_ocpp(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.instance:
            out["instance"] = self.instance
        return out

    def characteristics(self) -> dict[str, Any]:
        out: dict[str, Any] = {"data_type": self.data_type.value, "supports_monitoring": self.supports_monitoring}
        if self.unit:
            out["unit"] = self.unit
        if self.min_limit is not None:
            out["min_limit"] = self.min_limit
        if self.max_limit is not None:
            out["max_limit"] = self.max_limit
        if self.values_list:
            out["values_list"] = ",".join(self.values_list)
        return out


@dataclass(frozen=True)
class GetResult:
    status: GetStatus
    value: str | None = None
    reason: str | None = None  # StatusInfo.reasonCode


@dataclass(frozen=True)
class SetResult:
    status: SetStatus
    reason: str | None = None
    info: str | None = None  # StatusInfo.additionalInfo (never contains the value)


class InvalidValue(ValueError):
    def __init__(self, reason: str, info: str) -> None:
        super().__init__(info)
        self.reason = reason


Listener = Callable[[Variable, AttributeType, str], None]


_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _number(text: str, integer: bool) -> float:
    t = text.strip()
    if not (_INTEGER if integer else _DECIMAL).fullmatch(t):
        raise InvalidValue("InvalidValue", "not an integer" if integer else "not a decimal number")
    v = float(int(t)) if integer else float(t)
    if not math.isfinite(v):
        raise InvalidValue("InvalidValue", "not a finite number")
    return v


def normalize(var: Variable, value: str, value_size: int | None = None) -> str:
    """Check ``value`` against the characteristics of ``var``; return its canonical text or raise InvalidValue."""
    dt = var.data_type
    if value_size is not None and len(value) > value_size:
        raise InvalidValue("ValueTooLarge", f"longer than ConfigurationValueSize ({value_size})")
    if dt in (DataType.INTEGER, DataType.DECIMAL):
        num = _number(value, dt == DataType.INTEGER)
        if var.min_limit is not None and num < var.min_limit:
            raise InvalidValue("ValueTooLow", f"below minimum {var.min_limit:g}")
        if var.max_limit is not None and num > var.max_limit:
            raise InvalidValue("ValueTooHigh", f"above maximum {var.max_limit:g}")
        out = str(int(num)) if dt == DataType.INTEGER else value.strip()
    elif dt == DataType.BOOLEAN:
        low = value.strip().lower()
        if low not in ("true", "false"):
            raise InvalidValue("InvalidValue", "boolean must be 'true' or 'false'")
        out = low
    elif dt == DataType.DATE_TIME:
        try:
            dt_value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidValue("InvalidValue", "not an RFC 3339 date-time") from None
        if dt_value.tzinfo is None:
            raise InvalidValue("InvalidValue", "date-time needs a time zone")
        out = value.strip()
    elif dt == DataType.OPTION_LIST:
        if var.values_list is not None and value not in var.values_list:
            raise InvalidValue("InvalidValue", "not one of the allowed options")
        out = value
    elif dt in LIST_TYPES:
        items = [p.strip() for p in value.split(",")] if value.strip() else []
        if any(not p for p in items):
            raise InvalidValue("InvalidValue", "empty list element")
        if var.values_list is not None:
            allowed = {v.lower(): v for v in var.values_list}
            unknown = [p for p in items if p.lower() not in allowed]
            if unknown:
                raise InvalidValue("InvalidValue", f"{len(unknown)} element(s) not in the allowed list")
            items = [allowed[p.lower()] for p in items]
        if len({p.lower() for p in items}) != len(items):
            raise InvalidValue("InvalidValue", "duplicate list element")
        out = ",".join(items)
    else:
        out = value
    if dt in TEXT_TYPES:
        if var.min_limit is not None and len(out) < var.min_limit:
            raise InvalidValue("ValueTooLow", f"shorter than {var.min_limit:g} characters")
        if var.max_limit is not None and len(out) > var.max_limit:
            raise InvalidValue("ValueTooLarge", f"longer than {var.max_limit:g} characters")
    if var.validator is not None:
        try:
            var.validator(out)
        except InvalidValue:
            raise
        except ValueError as e:
            raise InvalidValue("InvalidValue", str(e)[:200]) from None
    return out


@dataclass
class DeviceModel:
    """The registry of every component and variable of one charging station."""

    variables: list[Variable] = field(default_factory=list)
    configuration_value_size: int = 1000
    reporting_value_size: int = 2500

    def __post_init__(self) -> None:
        self._index: dict[tuple[Any, ...], Variable] = {}
        self._components: set[tuple[Any, ...]] = set()
        self._listeners: list[Listener] = []
        for v in list(self.variables):
            self._register(v)
        self.bindings: Any = None  # whatever the builder bound (see chargepoint.ocpp.v201_variables)

    # ------------------------------------------------------------------ building
    def _register(self, var: Variable) -> None:
        key = var.component.key + var.key
        if key in self._index:
            raise ValueError(f"duplicate variable {var.component.name}.{var.name}")
        self._index[key] = var
        self._components.add(var.component.key)

    def add(
        self,
        component: Component,
        name: str,
        data_type: DataType,
        *,
        mutability: Mutability = Mutability.READ_ONLY,
        value: str | None = None,
        getter: Getter | None = None,
        setter: Setter | None = None,
        persistent: bool = False,
        constant: bool = False,
        **characteristics: Any,
    ) -> Variable:
        """Add a variable with its Actual attribute. ``characteristics``: the other :class:`Variable` fields."""
        attr = Attribute(mutability, getter, setter, value, persistent, constant)
        var = Variable(component, name, data_type, {AttributeType.ACTUAL: attr}, **characteristics)
        self.variables.append(var)
        self._register(var)
        return var

    def subscribe(self, listener: Listener) -> None:
        """``listener(variable, attribute_type, new_value)`` runs after every accepted write (local or remote)."""
        self._listeners.append(listener)

    # ------------------------------------------------------------------ lookup
    def has_component(self, component: Component) -> bool:
        return component.key in self._components

    def find(self, component: Component, name: str, instance: str | None = None) -> Variable | None:
        return self._index.get((*component.key, name.lower(), instance.lower() if instance else None))

    def __iter__(self) -> Iterator[Variable]:
        return iter(self.variables)

    def __len__(self) -> int:
        return len(self.variables)

    def read(self, component: str | Component, name: str, instance: str | None = None,
             attribute: AttributeType = AttributeType.ACTUAL) -> str | None:
        """Local read that ignores mutability (the firmware may read its own WriteOnly secrets)."""
        comp = Component(component) if isinstance(component, str) else component
        var = self.find(comp, name, instance)
        if var is None or attribute not in var.attributes:
            raise KeyError(f"no {comp.name}.{name}[{instance or ''}].{attribute}")
        return var.attributes[attribute].read()

    # ------------------------------------------------------------------ OCPP GetVariables / SetVariables
    def get(self, component: Component, name: str, instance: str | None = None,
            attribute: AttributeType = AttributeType.ACTUAL) -> GetResult:
        if not self.has_component(component):
            return GetResult(GetStatus.UNKNOWN_COMPONENT)
        var = self.find(component, name, instance)
        if var is None:
            return GetResult(GetStatus.UNKNOWN_VARIABLE)
        attr = var.attributes.get(attribute)
        if attr is None:
            return GetResult(GetStatus.NOT_SUPPORTED_ATTRIBUTE_TYPE)
        if attr.mutability == Mutability.WRITE_ONLY:
            return GetResult(GetStatus.REJECTED, reason="WriteOnly")
        value = attr.read()
        return GetResult(GetStatus.ACCEPTED, (value or "")[: self.reporting_value_size])

    def set(self, component: Component, name: str, value: str, instance: str | None = None,
            attribute: AttributeType = AttributeType.ACTUAL) -> SetResult:
        if not self.has_component(component):
            return SetResult(SetStatus.UNKNOWN_COMPONENT)
        var = self.find(component, name, instance)
        if var is None:
            return SetResult(SetStatus.UNKNOWN_VARIABLE)
        attr = var.attributes.get(attribute)
        if attr is None:
            return SetResult(SetStatus.NOT_SUPPORTED_ATTRIBUTE_TYPE)
        if attr.mutability == Mutability.READ_ONLY:
            return SetResult(SetStatus.REJECTED, "ReadOnly", "the variable is read-only")
        try:
            text = normalize(var, value, self.configuration_value_size)
            if var.reboot_required:
                attr.pending = text
            else:
                attr.write(text)
        except InvalidValue as e:
            return SetResult(SetStatus.REJECTED, e.reason, str(e))
        except ValueError as e:  # the bound model refused it
            return SetResult(SetStatus.REJECTED, "InvalidValue", str(e)[:200])
        self._changed(var, attribute, text)
        if var.reboot_required:
            return SetResult(SetStatus.REBOOT_REQUIRED)
        return SetResult(SetStatus.ACCEPTED)

    def force(self, component: str | Component, name: str, value: str, instance: str | None = None,
              attribute: AttributeType = AttributeType.ACTUAL) -> None:
        """Local configuration: write any attribute (also ReadOnly ones) after validating the value."""
        comp = Component(component) if isinstance(component, str) else component
        var = self.find(comp, name, instance)
        if var is None or attribute not in var.attributes:
            raise KeyError(f"no {comp.name}.{name}[{instance or ''}].{attribute}")
        text = normalize(var, value)
        var.attributes[attribute].write(text)
        self._changed(var, attribute, text)

    def _changed(self, var: Variable, attribute: AttributeType, value: str) -> None:
        for fn in self._listeners:
            try:
                fn(var, attribute, value)
            except Exception:  # a listener must not turn an accepted write into an error
                log.exception("device-model listener failed for %s.%s", var.component.name, var.name)

    def apply_pending(self) -> list[Variable]:
        """At boot: make reboot-required writes effective. Returns the variables that changed."""
        done: list[Variable] = []
        for var in self.variables:
            for attr in var.attributes.values():
                if attr.pending is not None:
                    text, attr.pending = attr.pending, None
                    attr.write(text)
                    done.append(var)
        return done

    # ------------------------------------------------------------------ reports
    def report(self, base: ReportBase | str) -> list[dict[str, Any]]:
        """ReportDataType entries (snake_case) for GetBaseReport. WriteOnly values are left out."""
        base = ReportBase(base)
        out: list[dict[str, Any]] = []
        for var in self.variables:
            if base == ReportBase.CONFIGURATION_INVENTORY and all(
                a.mutability == Mutability.READ_ONLY for a in var.attributes.values()
            ):
                continue
            if base == ReportBase.SUMMARY_INVENTORY and var.name.lower() not in SUMMARY_VARIABLES:
                continue
            out.append(self.report_entry(var, with_characteristics=base != ReportBase.SUMMARY_INVENTORY))
        return out

    def report_entry(self, var: Variable, with_characteristics: bool = True) -> dict[str, Any]:
        attrs: list[dict[str, Any]] = []
        for kind, attr in var.attributes.items():
            item: dict[str, Any] = {
                "type": kind.value,
                "mutability": attr.mutability.value,
                "persistent": attr.persistent,
                "constant": attr.constant,
            }
            if attr.mutability != Mutability.WRITE_ONLY:
                item["value"] = (attr.read() or "")[: self.reporting_value_size]
            attrs.append(item)
        entry: dict[str, Any] = {
            "component": var.component.to_ocpp(),
            "variable": var.to_ocpp(),
            "variable_attribute": attrs,
        }
        if with_characteristics:
            entry["variable_characteristics"] = var.characteristics()
        return entry

    # ------------------------------------------------------------------ persistence
    @staticmethod
    def _storage_key(var: Variable, kind: AttributeType) -> str:
        c = var.component
        where = f"{c.name}[{c.instance or ''}]@{'' if c.evse_id is None else c.evse_id}" + (
            f".{c.connector_id}" if c.connector_id is not None else ""
        )
        return f"{where}/{var.name}[{var.instance or ''}]/{kind.value}"

    def snapshot(self) -> dict[str, str]:
        """Values of persistent writable attributes (reboot-required ones as configured), for a persistence layer."""
        out: dict[str, str] = {}
        for var in self.variables:
            for kind, attr in var.attributes.items():
                if attr.persistent and attr.mutability != Mutability.READ_ONLY:
                    value = attr.read()
                    if value is not None:
                        out[self._storage_key(var, kind)] = value
        return out

    def restore(self, values: dict[str, str]) -> list[str]:
        """Apply a :meth:`snapshot`. Unknown keys and values that no longer validate are skipped and returned."""
        wanted = dict(values)
        for var in self.variables:
            for kind, attr in var.attributes.items():
                key = self._storage_key(var, kind)
                if key not in wanted or not attr.persistent:
                    continue
                text = wanted.pop(key)
                try:
                    attr.write(normalize(var, text))
                except ValueError:
                    wanted[key] = text
        return sorted(wanted)
