-- Form schemas (docs/forms.md): JSON Schema documents by id, named by start events and user
-- tasks (`laneway:form`, `camunda:formKey`, `zeebe:formDefinition`). Uploading an id again
-- replaces its schema; the diagrams that name it pick the new one up at their next submission.
CREATE TABLE form_schemas (
    form_id     text        PRIMARY KEY,
    schema      jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- the principal that uploaded the current schema ({"kind", "id", "roles", "claims"})
    updated_by  jsonb       NOT NULL
);
