-- Who may read an instance's variables without the role operator or auditor: whoever takes
-- part in it (services/audit/instances.py, PARTICIPATING). One partial index per way of
-- taking part, so finding a principal's instances reads only that principal's rows of the
-- log, not the whole log.
CREATE INDEX audit_log_actors ON audit_log ((principal->>'id'), instance_id)
    WHERE kind = 'EVENT' AND (seq = 1 OR intent IN ('USER_TASK_CLAIMED', 'USER_TASK_COMPLETED'));

CREATE INDEX audit_log_task_assignees ON audit_log ((value->>'assignee'), instance_id)
    WHERE kind = 'EVENT' AND intent = 'USER_TASK_CREATED';

CREATE INDEX audit_log_task_candidates ON audit_log USING gin ((value->'candidateUsers'))
    WHERE kind = 'EVENT' AND intent = 'USER_TASK_CREATED';
