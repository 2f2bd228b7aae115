"""Answers that decode yet cannot be true: the reference client's second look at what a pump says.

The codec checks each field alone (width, code list, range). These check the fields of one
answer against each other and against the drug library, the way a careful programmer app must
before it shows a number to a clinician or acts on it. A hostile pump (harness.hostile) sends
exactly such answers. Each function returns a list of problems, empty when the answer holds up.
"""

from pumpmock.protocol.codes import DRUG_LIBRARY, Drug

NEVER = 0xFFFF  # days_to_* when nothing is being used
_MAX_CONCENTRATION = max(limits.max_concentration_ug_per_ml for limits in DRUG_LIBRARY.values())
# In any 24 h the basal rate gives at most a hard daily maximum, and boluses are refused once basal
# plus boluses would pass the prescription's maximum daily dose (itself at most a hard maximum).
# Reprogramming or a drug change within the day cannot lift either bound above the largest.
_MAX_24H_UG = 2 * max(limits.hard_max_ug_per_day for limits in DRUG_LIBRARY.values())


def status_problems(status):
    """A GET_STATUS (or TC_GET_STATUS) answer."""
    problems = []
    if status.capacity_ul == 0:
        problems.append("a reservoir of no capacity")
    if status.reservoir_ul > status.capacity_ul:
        problems.append("reservoir %d µL above its capacity of %d µL" % (status.reservoir_ul, status.capacity_ul))
    limits = DRUG_LIBRARY.get(status.drug)
    if status.drug != Drug.NONE and status.concentration_ug_per_ml == 0:
        problems.append("%s at concentration 0" % getattr(status.drug, "name", status.drug))
    maximum = limits.max_concentration_ug_per_ml if limits is not None else _MAX_CONCENTRATION
    if status.concentration_ug_per_ml > maximum:
        problems.append("concentration %d µg/mL above the maximum of %d" % (status.concentration_ug_per_ml, maximum))
    if status.delivered_24h_ug > _MAX_24H_UG:
        problems.append("%d µg delivered in 24 h, more than basal and boluses at any drug's hard maximum allow"
                        % status.delivered_24h_ug)
    if status.days_to_low_reservoir != NEVER and status.days_to_empty != NEVER \
            and status.days_to_low_reservoir > status.days_to_empty:
        problems.append("low-reservoir day %d after the empty day %d"
                        % (status.days_to_low_reservoir, status.days_to_empty))
    return problems


def hello_problems(hello):
    """A HELLO answer (after the identity check; the codec already holds test_mode to 0 or 1)."""
    return ["a reservoir of no capacity"] if hello.capacity_ul == 0 else []
