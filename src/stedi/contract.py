"""The landing contract: what each source sends, field by field.

This is the one place that says which fields a landing line carries, of which kind, and which are
required. The quarantine rules (``landing.py``) and every table schema derive from it.
"""

from dataclasses import dataclass

STRING, INTEGER, NUMBER = "string", "integer", "number"

SQL_TYPES = {STRING: "VARCHAR", INTEGER: "BIGINT", NUMBER: "DOUBLE"}


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    required: bool = False


@dataclass(frozen=True)
class Source:
    name: str
    fields: tuple[Field, ...]
    identity: str  # the field that says whose line it is: a customer's email, or a device's serial

    @property
    def table(self) -> str:
        return f"{self.name}_landing"

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [(f.name, SQL_TYPES[f.kind]) for f in self.fields]


CUSTOMER = Source(
    "customer",
    (
        Field("customername", STRING),
        Field("email", STRING, required=True),
        Field("phone", STRING),
        Field("birthday", STRING),
        Field("serialnumber", STRING),
        Field("registrationdate", INTEGER),
        Field("lastupdatedate", INTEGER),
        Field("sharewithresearchasofdate", INTEGER),
        Field("sharewithpublicasofdate", INTEGER),
        Field("sharewithfriendsasofdate", INTEGER),
    ),
    "email",
)

ACCELEROMETER = Source(
    "accelerometer",
    (
        Field("user", STRING, required=True),
        Field("timestamp", INTEGER, required=True),
        Field("x", NUMBER, required=True),
        Field("y", NUMBER, required=True),
        Field("z", NUMBER, required=True),
    ),
    "user",
)

STEP_TRAINER = Source(
    "step_trainer",
    (
        Field("sensorreadingtime", INTEGER, required=True),
        Field("serialnumber", STRING, required=True),
        Field("distancefromobject", NUMBER, required=True),
    ),
    "serialnumber",
)

SOURCES = {s.name: s for s in (CUSTOMER, ACCELEROMETER, STEP_TRAINER)}
