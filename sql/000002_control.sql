-- Dry runs, priorities, per-account rate limits, and the controls every client shares
-- (CLI, API, psql): pause, resume, cancel.

alter table bulkrun.bulk_actions
  add column dry_run boolean not null default false,
  add column priority smallint not null default 0 check (priority between -100 and 100);
comment on column bulkrun.bulk_actions.dry_run is
  'Evaluate every chunk without applying it: the ledger and counters show what would happen.';
comment on column bulkrun.bulk_actions.priority is
  'Higher runs sooner; among equal priorities, actions take turns chunk by chunk.';

-- The token bucket of an account: tokens accrue at rate_limit_per_minute per window (a minute;
-- shorter in tests) and are spent by chunks, in rows. The bucket holds no more than the chunk
-- asking needs, so over any window an account applies at most its limit plus one chunk.
create table bulkrun_private.rate_buckets (
  account_id bigint primary key references bulkrun.accounts on delete cascade,
  tokens double precision not null,
  refilled_at timestamptz not null default clock_timestamp()
);

-- Takes `wanted` tokens if the bucket holds them (a chunk larger than a whole window's worth
-- takes a full window and leaves a debt). Returns 0 when taken, else the seconds until they are there.
create function bulkrun_private.take_tokens(p_account_id bigint, wanted integer, window_seconds double precision default 60)
returns double precision language plpgsql as $$
declare
  per_window integer;
  per_second double precision;
  needed double precision;
  bucket bulkrun_private.rate_buckets;
  available double precision;
begin
  select rate_limit_per_minute into per_window from bulkrun.accounts where id = p_account_id;
  if per_window is null then
    return 0;
  end if;
  per_second := per_window / window_seconds;
  needed := least(wanted, per_window);
  insert into bulkrun_private.rate_buckets (account_id, tokens) values (p_account_id, needed)
    on conflict (account_id) do nothing;
  select * into bucket from bulkrun_private.rate_buckets where account_id = p_account_id for update;
  available := least(needed, bucket.tokens + extract(epoch from clock_timestamp() - bucket.refilled_at) * per_second);
  if available >= needed then
    update bulkrun_private.rate_buckets set tokens = available - wanted, refilled_at = clock_timestamp()
      where account_id = p_account_id;
    return 0;
  end if;
  return (needed - available) / per_second;
end $$;

-- What a rate-limited account may apply now (tokens accrued since its last chunk, up to a
-- window's worth), and when a whole window's worth is available again.
create function bulkrun.account_quota(p_account_id bigint, window_seconds double precision default 60)
returns table (rows_available integer, full_at timestamptz) language sql stable as $$
  select floor(greatest(0, q.available))::integer,
         clock_timestamp() + make_interval(secs => greatest(0, a.rate_limit_per_minute - q.available) / (a.rate_limit_per_minute / window_seconds))
    from bulkrun.accounts a
    left join bulkrun_private.rate_buckets b on b.account_id = a.id
    cross join lateral (select least(a.rate_limit_per_minute::double precision,
      coalesce(b.tokens + extract(epoch from clock_timestamp() - b.refilled_at) * a.rate_limit_per_minute / window_seconds,
               a.rate_limit_per_minute)) as available) q
   where a.id = p_account_id and a.rate_limit_per_minute is not null
$$;

-- Graphile Worker runs lower numbers first. Chunk n of every action gets about the same number,
-- so a small action started behind a large one runs after a few chunks, not after all of them.
create function bulkrun_private.chunk_priority(action_priority smallint, seq integer) returns integer
language sql immutable as $$
  select greatest(-32768, least(32767, seq - action_priority * 100))
$$;

-- Re-enqueues the jobs of an action's pending chunks (after a resume). A chunk whose job is
-- still queued keeps a single job: the job key is per chunk.
create function bulkrun_private.enqueue_pending_chunks(p_action_id bigint) returns integer
language sql as $$
  select count(graphile_worker.add_job('bulkrun.chunk', json_build_object('chunkId', c.id),
           job_key := 'bulkrun.chunk:' || c.id,
           priority := bulkrun_private.chunk_priority(a.priority, c.seq)))::integer
    from bulkrun.bulk_action_chunks c join bulkrun.bulk_actions a on a.id = c.action_id
   where c.action_id = p_action_id and c.status = 'pending'
$$;

create function bulkrun.pause_action(action_id bigint) returns bulkrun.bulk_actions
language sql as $$
  select * from bulkrun_private.transition_action(action_id, 'paused')
$$;
comment on function bulkrun.pause_action(bigint) is
  'Stops taking new chunks; chunks already running finish their transaction.';

create function bulkrun.resume_action(action_id bigint) returns bulkrun.bulk_actions
language plpgsql as $$
declare
  act bulkrun.bulk_actions;
begin
  act := bulkrun_private.transition_action(action_id, 'running');
  if bulkrun_private.enqueue_pending_chunks(action_id) = 0 and act.processed >= act.total then
    -- Its last chunk committed while it was paused: nothing is left to run.
    act := bulkrun_private.transition_action(action_id,
      case when exists (select 1 from bulkrun.bulk_action_chunks c where c.action_id = act.id and c.status = 'failed')
           then 'failed' else 'completed' end);
  end if;
  return act;
end $$;
comment on function bulkrun.resume_action(bigint) is 'Continues a paused action where it stopped.';

create function bulkrun.cancel_action(action_id bigint) returns bulkrun.bulk_actions
language sql as $$
  select * from bulkrun_private.transition_action(action_id, 'cancelled')
$$;
comment on function bulkrun.cancel_action(bigint) is
  'Ends the action: running chunks finish their transaction, rows never applied stay pending in the ledger.';

-- A follow-up action that re-applies rows of an earlier one: `rows` = 'failed' (retry the rows
-- that failed when applied; invalid rows need a corrected file) or 'all' (apply a dry run's plan).
create function bulkrun_private.follow_up(p_parent_id bigint, p_rows text) returns bulkrun.bulk_actions
language plpgsql as $$
declare
  parent bulkrun.bulk_actions;
  child bulkrun.bulk_actions;
begin
  select * into parent from bulkrun.bulk_actions a where a.id = p_parent_id;
  if not found then
    raise exception 'bulk action % does not exist', p_parent_id using errcode = 'BR404';
  end if;
  if parent.status not in ('completed', 'failed', 'cancelled') then
    raise exception 'bulk action % is %; wait until it has finished', p_parent_id, parent.status using errcode = 'BR409';
  end if;
  if p_rows = 'all' and not (parent.dry_run and parent.status = 'completed') then
    raise exception 'bulk action % is not a completed dry run', p_parent_id using errcode = 'BR409';
  end if;
  if p_rows = 'failed' and not exists (select 1 from bulkrun.bulk_action_items i
      where i.action_id = p_parent_id and i.status = 'failed' and i.outcome is distinct from 'invalid') then
    raise exception 'bulk action % has no failed rows to retry (rows that were invalid need a corrected file)', p_parent_id
      using errcode = 'BR409';
  end if;
  insert into bulkrun.bulk_actions (account_id, type, options, source, chunk_size, priority, parent_id)
  values (parent.account_id, parent.type, parent.options,
          jsonb_build_object('kind', 'copy', 'from', p_parent_id, 'rows', p_rows),
          parent.chunk_size, parent.priority, p_parent_id)
  returning * into child;
  return child;
end $$;

create function bulkrun.retry_action(action_id bigint) returns bulkrun.bulk_actions
language sql as $$
  select * from bulkrun_private.follow_up(action_id, 'failed')
$$;
comment on function bulkrun.retry_action(bigint) is
  'Starts a child action with the rows that failed when applied (after their cause was fixed).';

create function bulkrun.apply_dry_run(action_id bigint) returns bulkrun.bulk_actions
language sql as $$
  select * from bulkrun_private.follow_up(action_id, 'all')
$$;
comment on function bulkrun.apply_dry_run(bigint) is 'Applies exactly the plan a completed dry run evaluated.';
