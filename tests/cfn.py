"""A CloudFormation template read as CloudFormation would deploy it, for the tests that check the deployment: the
parameters (defaults, or values given), the conditions, and the intrinsic functions the template uses (Ref,
Fn::GetAtt, Fn::Sub, Fn::If, Fn::Equals, Fn::Not, Fn::And, Fn::Or, Fn::Join, Fn::FindInMap, AWS::NoValue) resolved
with the names the test's resources have. Anything else is refused, so that the template cannot use a function
these tests would read wrongly."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

ACCOUNT = "123456789012"
PARTITION = "aws"


class _NoValue:
    """AWS::NoValue: the property or list item it stands for is left out."""


NO_VALUE = _NoValue()


def load_template(path: Path) -> dict[str, Any]:
    """The template as data, with the short forms (!Ref, !Sub...) written out as CloudFormation's JSON forms."""
    template: dict[str, Any] = yaml_parse(path.read_text(encoding="utf-8"))
    return template


@dataclass
class Deployment:
    """One stack of ``template`` with ``given`` parameter values; ``names`` gives the physical names of resources
    (Ref) and ``attributes`` their attributes (Fn::GetAtt, by "Logical.Attribute")."""

    template: dict[str, Any]
    given: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    region: str = "us-east-1"
    stack: str = "pixlens"

    def __post_init__(self) -> None:
        declared = self.template.get("Parameters", {})
        unknown = set(self.given) - set(declared)
        if unknown:
            raise ValueError(f"no such parameters: {sorted(unknown)}")
        self.parameters: dict[str, Any] = {}
        for name, spec in declared.items():
            value = self.given.get(name, spec.get("Default"))
            if value is None:
                raise ValueError(f"parameter {name} has no default: give it")
            value = str(value)
            allowed = [str(item) for item in spec.get("AllowedValues", [])]
            if allowed and value not in allowed:
                raise ValueError(f"{name}={value!r} is not one of {allowed}")
            if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
                raise ValueError(f"{name}={value!r} does not match {spec['AllowedPattern']}")
            is_list = spec["Type"] == "CommaDelimitedList"
            self.parameters[name] = [part.strip() for part in value.split(",")] if is_list else value
        self.conditions: dict[str, bool] = {}
        for name, expression in self.template.get("Conditions", {}).items():
            self.conditions[name] = bool(self.resolve(expression))

    # -- what the stack holds ----
    def resources(self) -> dict[str, dict[str, Any]]:
        """The resources the stack creates (their Condition holds), with their properties resolved."""
        made = {}
        for name, resource in self.template["Resources"].items():
            if "Condition" in resource and not self.conditions[resource["Condition"]]:
                continue
            made[name] = {**resource, "Properties": self.resolve(resource.get("Properties", {}))}
        return made

    def resource(self, name: str) -> dict[str, Any]:
        return self.resources()[name]

    # -- intrinsic functions ----
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(item) for item in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), *_ = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Condition":
                return self.conditions[argument]
            if key.startswith("Fn::"):
                return self.function(key, argument)
        return {key: item for key, item in ((k, self.resolve(v)) for k, v in value.items()) if item is not NO_VALUE}

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": PARTITION,
            "AWS::StackName": self.stack,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.names:
            return self.names[name]
        raise KeyError(f"Ref {name}: give the resource's name to the Deployment")

    def attribute(self, name: str) -> str:
        if name not in self.attributes:
            raise KeyError(f"Fn::GetAtt {name}: give the attribute to the Deployment")
        return self.attributes[name]

    def function(self, key: str, argument: Any) -> Any:
        if key == "Fn::If":
            condition, then, otherwise = argument
            return self.resolve(then if self.conditions[condition] else otherwise)
        if key == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.resolve(argument[0])
        if key == "Fn::And":
            return all(self.resolve(item) for item in argument)
        if key == "Fn::Or":
            return any(self.resolve(item) for item in argument)
        if key == "Fn::GetAtt":
            logical, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.attribute(f"{logical}.{attribute}")
        if key == "Fn::Join":
            separator, items = argument
            return separator.join(str(item) for item in self.resolve(items))
        if key == "Fn::FindInMap":
            mapping, top, second = (self.resolve(item) for item in argument)
            return self.template["Mappings"][mapping][str(top)][second]
        if key == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            values = {name: self.resolve(item) for name, item in variables.items()}
            return re.sub(r"\$\{([^}!]+)\}", lambda match: self._sub(match.group(1), values), text)
        raise ValueError(f"{key} is not a function these tests resolve")

    def _sub(self, name: str, values: dict[str, Any]) -> str:
        if name in values:
            return str(values[name])
        if "." in name and not name.startswith("AWS::"):
            return self.attribute(name)
        return str(self.ref(name))
