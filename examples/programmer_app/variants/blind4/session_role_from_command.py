"""Seeded defect (blind4): the session's role follows the command, not --role.

connect() picks the role to log in with from the command ("only the PTM asks for a bolus"), so
`--role patient interrogate` or `--role patient program ...` logs in as CLINICIAN: the patient
therapy manager reads the prescription and changes therapy.
NOT an example to follow.
"""

import sys

from _blind4_seed import app, pumplink
from pumpmock.protocol.codes import Role


def connect(args):
    link = pumplink.PumpLink(pumplink.open_port(args.port))
    role = Role.PATIENT if args.command == "ptm-bolus" else Role.CLINICIAN
    try:
        link.handshake()
        link.login(role)
    except BaseException:
        link.close()
        raise
    return link


app.connect = connect

if __name__ == "__main__":
    sys.exit(app.main())
