"""moto_server with the two Step Functions actions moto lacks that the aws provider calls.

The aws provider (>= 5.67) validates an aws_sfn_state_machine's definition with
ValidateStateMachineDefinition once the definition is known, and reads the machine's
versions with ListStateMachineVersions after creating it; moto answers 500 (not
implemented) to both, which the provider retries for many minutes and then fails. This
launcher adds them before running moto_server with the same arguments:
ValidateStateMachineDefinition checks that the definition is JSON whose every StartAt /
Next / Default / Catch target names a state of its own scope (the real schema validation
is asl-validator in scripts/terraform-check.sh) and answers like AWS (result OK or FAIL
with diagnostics); ListStateMachineVersions lists the versions moto keeps.

    python scripts/lib/moto_server.py -H 127.0.0.1 -p 5000
"""

import json
import sys

from moto.core.responses import ActionResult
from moto.server import main
from moto.stepfunctions.responses import StepFunctionResponse


def diagnostics(definition):
    """ERROR diagnostics of a definition (empty when it is valid as far as checked)."""
    try:
        machine = json.loads(definition)
    except (TypeError, json.JSONDecodeError) as err:
        return [{"severity": "ERROR", "code": "INVALID_JSON_DESCRIPTION", "message": str(err), "location": "/"}]
    found = []

    def scope(obj, where):
        states = obj.get("States")
        if not isinstance(states, dict) or not states:
            found.append({"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": "no States", "location": where})
            return
        if obj.get("StartAt") not in states:
            found.append({"severity": "ERROR", "code": "MISSING_TRANSITION_TARGET",
                          "message": f"Missing 'StartAt' target: {obj.get('StartAt')}", "location": f"{where}StartAt"})
        for name, state in states.items():
            targets = [("Next", state.get("Next")), ("Default", state.get("Default"))]
            targets += [("Choices/Next", c.get("Next")) for c in state.get("Choices", [])]
            targets += [("Catch/Next", c.get("Next")) for c in state.get("Catch", [])]
            for field, target in targets:
                if target is not None and target not in states:
                    found.append({"severity": "ERROR", "code": "MISSING_TRANSITION_TARGET",
                                  "message": f"Missing '{field}' target: {target}", "location": f"{where}States/{name}"})
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if isinstance(processor, dict):
                scope(processor, f"{where}States/{name}/ItemProcessor/")

    scope(machine, "/")
    return found


def validate_state_machine_definition(self):
    found = diagnostics(self._get_param("definition"))
    return ActionResult({"result": "FAIL" if found else "OK", "diagnostics": found, "truncated": False})


def list_state_machine_versions(self):
    machine = self.stepfunction_backend.describe_state_machine(self._get_param("stateMachineArn"))
    versions = [
        {"stateMachineVersionArn": v.arn, "creationDate": v.creation_date}
        for _, v in sorted(machine.versions.items(), reverse=True)
    ]
    return ActionResult({"stateMachineVersions": versions})


StepFunctionResponse.validate_state_machine_definition = validate_state_machine_definition
StepFunctionResponse.list_state_machine_versions = list_state_machine_versions

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
