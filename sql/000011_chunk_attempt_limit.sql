-- A chunk keeps the attempt limit it was planned with (worker.chunkAttempts): resuming an action
-- enqueues its pending chunks' jobs again, and without the limit Graphile Worker gave each of
-- them its default of 25 attempts (days of backoff for a chunk that keeps failing).
alter table bulkrun.bulk_action_chunks
  add column max_attempts integer not null default 5 check (max_attempts between 1 and 25);
comment on column bulkrun.bulk_action_chunks.max_attempts is 'How many times the chunk''s job runs before its rows are marked chunk_failed.';

-- Re-enqueues the jobs of an action's pending chunks (after a resume). A chunk whose job is
-- still queued keeps a single job (the job key is per chunk), with a fresh count of attempts.
create or replace function bulkrun_private.enqueue_pending_chunks(p_action_id bigint) returns integer
language sql security definer set search_path = pg_catalog, pg_temp as $$
  select count(graphile_worker.add_job('bulkrun.chunk', json_build_object('chunkId', c.id),
           job_key := 'bulkrun.chunk:' || c.id,
           max_attempts := c.max_attempts,
           priority := bulkrun_private.chunk_priority(a.priority, c.seq)))::integer
    from bulkrun.bulk_action_chunks c join bulkrun.bulk_actions a on a.id = c.action_id
   where c.action_id = p_action_id and c.status = 'pending'
$$;
