-- What the terminal dashboard (`bulkrun tui`) reads through the API beyond the tables: rows per
-- second over time, the runners and their worker slots, an action's chunks at a glance and why
-- its rows failed. Every function runs as the caller (row-level security decides what it sees)
-- except runner_summary, which reads private tables and is for admin tokens only.

-- How many jobs a runner process works on at once (worker.concurrency); null for a runner
-- without the worker role, or one started before this column existed.
alter table bulkrun_private.runners add column concurrency integer check (concurrency > 0);
comment on column bulkrun_private.runners.concurrency is 'Jobs this runner works on at once (worker.concurrency).';

-- The dashboard lists the actions changed last. No index: one more on a row that every chunk
-- commit updates would cost each of those updates, and the sort reads one row per action.
comment on column bulkrun.bulk_actions.updated_at is E'@behavior +orderBy\nWhen the action last changed: its status or its counters.';

-- A chunk's rows spread evenly over the time it ran, as rows per second inside one time slot.
-- started_at and finished_at are the chunk transaction's clock (both its start): duration_ms
-- says how long it really took. A chunk that took no measurable time counts where it finished.
create function bulkrun_private.chunk_rate_in_slot(
  rows integer, started_at timestamptz, finished_at timestamptz, duration_ms integer, slot_at timestamptz, slot_seconds double precision
) returns double precision language sql immutable as $$
  with span as (
    select coalesce(started_at, finished_at) as s,
           greatest(finished_at, coalesce(started_at, finished_at) + make_interval(secs => coalesce(duration_ms, 0) / 1000.0)) as f
  )
  select case
    when extract(epoch from f - s) < 0.001 then
      case when f >= slot_at and f < slot_at + make_interval(secs => slot_seconds) then rows / slot_seconds else 0 end
    else rows * greatest(0, extract(epoch from least(f, slot_at + make_interval(secs => slot_seconds)) - greatest(s, slot_at)))::double precision
         / extract(epoch from f - s)::double precision / slot_seconds
  end from span
$$;

create type bulkrun.throughput_sample as (at timestamptz, rows_per_second double precision);
comment on type bulkrun.throughput_sample is 'Rows applied per second during the time slot that starts at `at`.';

create function bulkrun.throughput(seconds integer default 60) returns setof bulkrun.throughput_sample
language sql stable as $$
  with slots as (
    -- The last slot is the second under way: what committed in it shows at once.
    select generate_series(date_trunc('second', now()) - make_interval(secs => least(greatest(seconds, 1), 3600) - 1),
                           date_trunc('second', now()), interval '1 second') as at
  ), recent as (
    select c.rows, c.started_at, c.finished_at, c.duration_ms from bulkrun.bulk_action_chunks c
     where c.status = 'done'
       and c.finished_at >= date_trunc('second', now()) - make_interval(secs => least(greatest(seconds, 1), 3600) + 3600)
  )
  select s.at, coalesce(sum(bulkrun_private.chunk_rate_in_slot(r.rows, r.started_at, r.finished_at, r.duration_ms, s.at, 1)), 0)
    from slots s left join recent r on true
   group by s.at order by s.at
$$;
comment on function bulkrun.throughput(integer) is
  'Rows applied per second, second by second, over the last `seconds` (at most 3600), across the actions the caller may see.';
-- The dashboard's query every few seconds: the chunks that finished lately.
create index bulk_action_chunks_finished_idx on bulkrun.bulk_action_chunks (finished_at) where status = 'done';

create function bulkrun.bulk_actions_throughput(a bulkrun.bulk_actions, slots integer default 40) returns setof bulkrun.throughput_sample
language sql stable as $$
  with span as (
    select a.started_at as since, greatest(1, extract(epoch from coalesce(a.finished_at, now()) - a.started_at)::double precision) as seconds
     where a.started_at is not null
  ), life as (
    -- A slot is at least a second wide: narrower ones would show each chunk as a spike.
    select since, least(greatest(slots, 1), 500, ceil(seconds)::integer) as n, seconds from span
  ), slot as (
    select life.since + make_interval(secs => i * life.seconds / life.n) as at, life.seconds / life.n as width
      from life, generate_series(0, life.n - 1) i
  )
  select s.at, coalesce(sum(bulkrun_private.chunk_rate_in_slot(c.rows, c.started_at, c.finished_at, c.duration_ms, s.at, s.width)), 0)
    from slot s left join bulkrun.bulk_action_chunks c on c.action_id = a.id and c.status = 'done'
   group by s.at order by s.at
$$;
comment on function bulkrun.bulk_actions_throughput(bulkrun.bulk_actions, integer) is
  'Rows applied per second over the action''s life so far, in `slots` equal time slots (at most 500, each a second at least); empty before it started.';

create type bulkrun.chunk_slot as (slot integer, chunks integer, done integer, failed integer, retried integer, rows bigint);
comment on type bulkrun.chunk_slot is 'A run of consecutive chunks (by seq): how many there are, are done, failed, were retried, and their rows.';

create function bulkrun.bulk_actions_chunk_timeline(a bulkrun.bulk_actions, slots integer default 60) returns setof bulkrun.chunk_slot
language sql stable as $$
  with numbered as (
    select c.*, ntile(least(greatest(slots, 1), 500)) over (order by c.seq) as slot from bulkrun.bulk_action_chunks c where c.action_id = a.id
  )
  select slot, count(*)::integer, count(*) filter (where status = 'done')::integer, count(*) filter (where status = 'failed')::integer,
         count(*) filter (where attempts > 1)::integer, sum(rows)::bigint
    from numbered group by slot order by slot
$$;
comment on function bulkrun.bulk_actions_chunk_timeline(bulkrun.bulk_actions, integer) is
  'The action''s chunks in order, grouped into at most `slots` runs (at most 500): which are done, failed or retried.';

create type bulkrun.failure_reason as (outcome text, reason text, rows bigint, samples jsonb);
comment on type bulkrun.failure_reason is
  'Why rows failed: the outcome, the error with the row''s own values left out, how many rows, and a few of them (rowNumber, error, data).';

-- Values quoted in an error (`like this`) differ row by row; without them the same cause groups.
create function bulkrun.bulk_actions_failure_reasons(a bulkrun.bulk_actions, samples integer default 3, reasons integer default 5)
returns setof bulkrun.failure_reason language sql stable as $$
  with failed as (
    select i.row_number, i.outcome, i.error, i.data,
           coalesce(regexp_replace(i.error, '`[^`]*`', '`…`', 'g'), i.outcome, 'unknown') as reason
      from bulkrun.bulk_action_items i where i.action_id = a.id and i.status = 'failed'
  ), ranked as (
    select f.*, row_number() over (partition by f.outcome, f.reason order by f.row_number) as n from failed f
  )
  select outcome, reason, count(*),
         coalesce(jsonb_agg(jsonb_build_object('rowNumber', row_number, 'error', error, 'data', data) order by row_number)
                    filter (where n <= least(greatest(samples, 0), 20)), '[]')
    from ranked group by outcome, reason order by count(*) desc, outcome, reason limit least(greatest(reasons, 1), 50)
$$;
comment on function bulkrun.bulk_actions_failure_reasons(bulkrun.bulk_actions, integer, integer) is
  'The most frequent reasons its rows failed (at most `reasons`, 50 at most), each with up to `samples` rows from the ledger (20 at most).';

-- Runners alive by their beats (the window is the runner's worker.deadAfterMs, set per request)
-- and the worker slots of the live ones: jobs they hold now, and how many they could hold.
create type bulkrun.runner_summary as (alive integer, dead integer, workers_busy integer, workers_total integer);
comment on type bulkrun.runner_summary is 'Runner processes alive and dead, and the worker slots of the live ones: busy and in all.';

-- The count itself reads private tables with the owner's rights; only admin requests may call it.
create function bulkrun_private.runner_summary() returns bulkrun.runner_summary
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  with live as (
    select r.id, r.concurrency, r.roles from bulkrun_private.runners r
     where r.dead_at is null
       and r.last_beat_at > now() - make_interval(secs => coalesce(nullif(current_setting('bulkrun.dead_after_seconds', true), '')::double precision, 30))
  )
  select (select count(*)::integer from live),
         (select count(*)::integer from bulkrun_private.runners r where not exists (select 1 from live where live.id = r.id)),
         (select count(*)::integer from graphile_worker.jobs j join live on live.id = j.locked_by),
         (select coalesce(sum(live.concurrency), 0)::integer from live where 'worker' = any (live.roles))
$$;
revoke execute on function bulkrun_private.runner_summary() from public;
grant execute on function bulkrun_private.runner_summary() to bulkrun_admin;

create function bulkrun.runner_summary() returns bulkrun.runner_summary language plpgsql stable as $$
begin
  if pg_has_role(current_user, 'bulkrun_admin', 'USAGE') then
    return bulkrun_private.runner_summary();
  end if;
  return null;
end $$;
comment on function bulkrun.runner_summary() is 'Runners alive and dead and the live ones'' worker slots (admin tokens only; null for an account token).';
