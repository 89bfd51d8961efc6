"""A labelled PII set: Faker values in several locales and formats, injected into prose.

Each case is a document with one known value of one entity type placed at a sentence
boundary inside a clean paragraph. Shared by the PII tests and `benchmarks/pii.py`.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from faker import Faker

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR")
REGIONS = {"en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR"}
TEMPLATES = (
    "For questions, contact {} before Friday.",
    "The archive lists {} as the reference.",
    "Details: {}",
    "(see {})",
    "Write to {}, or ask at the desk.",
    "Reference number {} was given at the time.",
)
PLACEHOLDER = re.compile(r"<[A-Z_]+>")
EXTENSION = re.compile(r"\s*(?:x|ext\.?)\s*\d+$")


@dataclass(frozen=True)
class Case:
    entity: str
    value: str
    text: str


def _email(fake: Faker, rng: random.Random) -> str:
    address = rng.choice([fake.email, fake.free_email, fake.company_email])()
    return rng.choice([address, address.upper(), f"<{address}>", f"mailto:{address}"])


def _phone(fake: Faker, rng: random.Random, region: str) -> str:
    """A Faker number in Faker's own format or one of the three standard ones.

    Faker also makes numbers no one can have (unassigned area codes, the ranges reserved
    for drama); phonenumbers rejects those, and so does presidio, so they are skipped.
    """
    while True:
        raw = fake.phone_number()
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            break
    if number.extension:  # presidio finds the number; the extension alone identifies no one
        raw = EXTENSION.sub("", raw)
    formats = (
        phonenumbers.PhoneNumberFormat.NATIONAL,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        phonenumbers.PhoneNumberFormat.E164,
    )
    return rng.choice([raw, *(phonenumbers.format_number(number, f) for f in formats)])


def _card(fake: Faker, rng: random.Random) -> str:
    digits = fake.credit_card_number(rng.choice(["visa16", "mastercard", "amex", "discover"]))
    grouped = " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))
    return rng.choice([digits, grouped, grouped.replace(" ", "-")])


def _ssn(fake: Faker, rng: random.Random) -> str:
    ssn = Faker("en_US").ssn()  # the US provider, whatever the paragraph's locale
    return rng.choice([ssn, ssn.replace("-", " ")])


def _iban(fake: Faker, rng: random.Random) -> str:
    iban = fake.iban()
    spaced = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return rng.choice([iban, spaced])


def _ip(fake: Faker, rng: random.Random) -> str:
    return rng.choice([fake.ipv4_public, fake.ipv4_private, fake.ipv6])()


def _crypto(fake: Faker, rng: random.Random) -> str:
    kind = rng.choice(["p2pkh", "p2sh", "ethereum"])
    if kind == "ethereum":
        return "0x" + fake.sha1()
    payload = bytes([0 if kind == "p2pkh" else 5]) + fake.binary(20)
    checksum = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return _base58(payload + checksum)


def _base58(data: bytes) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    number, encoded = int.from_bytes(data, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        encoded = alphabet[digit] + encoded
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + encoded


GENERATORS: dict[str, Callable[[Faker, random.Random, str], str]] = {
    "EMAIL_ADDRESS": lambda fake, rng, region: _email(fake, rng),
    "PHONE_NUMBER": _phone,
    "CREDIT_CARD": lambda fake, rng, region: _card(fake, rng),
    "US_SSN": lambda fake, rng, region: _ssn(fake, rng),
    "IBAN_CODE": lambda fake, rng, region: _iban(fake, rng),
    "IP_ADDRESS": lambda fake, rng, region: _ip(fake, rng),
    "CRYPTO": lambda fake, rng, region: _crypto(fake, rng),
}


def inject(paragraph: str, value: str, rng: random.Random) -> str:
    """`paragraph` with a sentence carrying `value` after one of its sentences."""
    sentences = paragraph.split(". ")
    at = rng.randrange(len(sentences) + 1)
    sentences.insert(at, rng.choice(TEMPLATES).format(value).removesuffix("."))
    return ". ".join(sentences)


def labelled_cases(paragraphs: list[str], per_type: int, seed: int = 0) -> list[Case]:
    """`per_type` cases of every entity type, locales in turn, paragraphs in turn."""
    rng = random.Random(seed)
    fakers = {locale: Faker(locale) for locale in LOCALES}
    for number, fake in enumerate(fakers.values()):
        fake.seed_instance(seed + number)
    cases = []
    for entity, generate in GENERATORS.items():
        for n in range(per_type):
            locale = LOCALES[n % len(LOCALES)]
            value = generate(fakers[locale], rng, REGIONS[locale])
            paragraph = paragraphs[(len(cases)) % len(paragraphs)]
            cases.append(Case(entity, value, inject(paragraph, value, rng)))
    return cases


def caught(case: Case, scrubbed: str) -> bool:
    """The value is gone and a placeholder took its place (presidio may pick another type:
    `number 212.59.66.101` scores higher as a phone number than as an IP address)."""
    return case.value not in scrubbed and PLACEHOLDER.search(scrubbed) is not None


def typed_correctly(case: Case, scrubbed: str) -> bool:
    return case.value not in scrubbed and f"<{case.entity}>" in scrubbed


def recall_by_type(cases: list[Case], scrubbed: list[str]) -> dict[str, float]:
    hits: dict[str, list[bool]] = {}
    for case, text in zip(cases, scrubbed, strict=True):
        hits.setdefault(case.entity, []).append(caught(case, text))
    return {entity: sum(found) / len(found) for entity, found in hits.items()}
