"""Request bodies: strict JSON (no duplicate keys, no NaN) into pydantic models that forbid unknown keys.

Docker's own decoder accepts escapes in keys, any key case and duplicate keys; here a key is either
exactly one of the model's or the request is refused, and the message names the offending key.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from smartcam.docker_api.scope import IMAGE_ID, TAG

MAX_BODY_BYTES = 4096  # the largest legitimate body (prune with its keep list) is well under 1 kB

ImageId = Annotated[str, StringConstraints(pattern=f"^{IMAGE_ID}$")]
Repository = Annotated[str, StringConstraints(max_length=255, pattern=r"^[A-Za-z0-9.:/_-]+$")]
Tag = Annotated[str, StringConstraints(pattern=f"^{TAG}$")]


class BodyError(ValueError):
    """The body is not what the route takes; the message says what is wrong with it."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Stop(Strict):
    timeout_s: int = Field(ge=0, le=600)


class Rename(Strict):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]


class Replace(Strict):
    image: ImageId


class TagImage(Strict):
    repository: Repository
    tag: Tag


class Pull(Strict):
    repository: Repository
    digest: ImageId  # same shape: sha256 and 64 hex digits


class RegistryDigest(Strict):
    repository: Repository
    tag: Tag


class Prune(Strict):
    repository: Repository
    keep: list[ImageId] = Field(max_length=16)


class SelfTest(Strict):
    image: ImageId




def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise BodyError(f"duplicate key(s) {', '.join(map(repr, duplicates))}: each key may appear once")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise BodyError(f"{name} is not JSON")


def parse(raw: bytes, model: type[Strict]) -> Strict:
    """`raw` as `model`, or BodyError naming what is wrong."""
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise BodyError("the body is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise BodyError(f"the body is not JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(value, dict):
        raise BodyError(f"the body must be a JSON object with {', '.join(model.model_fields)}")
    try:
        return model.model_validate(value)
    except ValidationError as error:
        problems = [f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}"
                    for item in error.errors()]
        raise BodyError("; ".join(problems)[:500] + f" (allowed keys: {', '.join(model.model_fields)})") from None
