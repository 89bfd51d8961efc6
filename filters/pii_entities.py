"""The kinds of personal data the `pii` stage finds: those its patterns find, and those
only a named-entity model finds."""

PATTERN_ENTITIES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "IP_ADDRESS",
    "CREDIT_CARD",
    "US_SSN",
    "IBAN_CODE",
    "CRYPTO",
)
NER_ENTITIES = ("PERSON", "LOCATION")
"""Found only by a spaCy NER model the user installed and named."""
