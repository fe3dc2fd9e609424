"""Every user-visible error text of the submit request, shared by the parser and its tests.

Templates are ``str.format`` strings. ``{field}`` is the JSON path of the offending value as the client
wrote it (``url``, ``pipeline.id``, ``associations[0].values[2]``, ``deployments[3].pipeline.id``); the
other fields are named where a template uses them. Only ``EMPTY_ASSOCIATION_VALUES`` is Jira's own
text verbatim; the rest follow the style of Jira's messages (``'url' is required``).
"""

from __future__ import annotations

# -- the whole request is a 400 ---------------------------------------------------------------------

BODY_NOT_UTF8 = "Request body is not valid UTF-8"
BODY_NOT_JSON = "Request body is not valid JSON: {reason}"
BODY_TOO_DEEP = "Request body is nested too deeply"
BODY_UNPAIRED_SURROGATE = "Request body contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)"
BODY_NOT_OBJECT = "Request body must be a JSON object"

# Reasons that complete BODY_NOT_JSON.
NUMBER_TOO_LONG = "a number is longer than {max_digits} characters"
NOT_A_JSON_NUMBER = "{constant} is not a JSON number"

# Jira's own text (fact), for an association anywhere in the request with an empty 'values' array.
EMPTY_ASSOCIATION_VALUES = "Associations must provide at least one value."

PROPERTY_KEY_INVALID = "'{field}' key '{key}' must not be empty, contain ':' or start with '_'"

# -- one value, whether the request is a 400 or one deployment is rejected ---------------------------

REQUIRED = "'{field}' is required"
MUST_BE_STRING = "'{field}' must be a string"
MUST_BE_INTEGER = "'{field}' must be an integer"
MUST_BE_OBJECT = "'{field}' must be an object"
MUST_BE_ARRAY = "'{field}' must be an array"
INT64_RANGE = "'{field}' must be between -9223372036854775808 and 9223372036854775807"
ONE_OF = "'{field}' must be one of [{allowed}]"
TOO_LONG = "'{field}' must be at most {max_length} characters"
PATTERN_MISMATCH = "'{field}' must match {pattern}"
TOO_FEW_ITEMS = "'{field}' must contain at least {min_length} {noun}, got {actual_length}"
TOO_MANY_ITEMS = "'{field}' must contain at most {max_length} {noun}, got {actual_length}"
INVALID_URI = "'{field}' must be a valid URI"
INVALID_DATE_TIME = "'{field}' must be an RFC 3339 date-time"
TOO_MANY_ASSOCIATION_VALUES = "'{field}' must contain at most {max_values} values in total, got {actual}"
INVALID = "'{field}' is invalid"

# -- one deployment is rejected ---------------------------------------------------------------------

EITHER = "Either '{0}' or '{1}' must be provided"  # the two members a declaration's required_any names
