-- A slot that has just finished a job still holds its lock for the moment it takes to record the
-- job's completion, while it already works on the next one: counted as jobs locked, the busy
-- slots could exceed the slots there are ("3/2 busy"). Counted per runner, at most its slots.
create or replace function bulkrun_private.runner_summary() returns bulkrun.runner_summary
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  with live as (
    select r.id, r.concurrency, r.roles from bulkrun_private.runners r
     where r.dead_at is null
       and r.last_beat_at > now() - make_interval(secs => coalesce(nullif(current_setting('bulkrun.dead_after_seconds', true), '')::double precision, 30))
  )
  select (select count(*)::integer from live),
         (select count(*)::integer from bulkrun_private.runners r where not exists (select 1 from live where live.id = r.id)),
         (select coalesce(sum(least(live.concurrency, (select count(*) from graphile_worker.jobs j where j.locked_by = live.id))), 0)::integer from live),
         (select coalesce(sum(live.concurrency), 0)::integer from live where 'worker' = any (live.roles))
$$;
