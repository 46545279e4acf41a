-- Webhooks: when an action ends, its summary is POSTed (signed with the account's secret) to the
-- action's webhook URL, or else to its account's.

alter table bulkrun.accounts
  add column webhook_url text check (webhook_url ~* '^https?://[^\s/]+');
comment on column bulkrun.accounts.webhook_url is
  'Where the summary of each of this account''s actions is POSTed when it ends; null means no webhook.';

alter table bulkrun.bulk_actions
  add column webhook_url text check (webhook_url ~* '^https?://[^\s/]+');
comment on column bulkrun.bulk_actions.webhook_url is
  'Where the summary of this action is POSTed when it ends; overrides the account''s webhook URL.';

-- The key deliveries are signed with (HMAC-SHA256 of the body). Private: the API never shows it.
create table bulkrun_private.webhook_secrets (
  account_id bigint primary key references bulkrun.accounts on delete cascade,
  secret text not null check (length(secret) >= 16),
  updated_at timestamptz not null default now()
);

-- One row per event to deliver; its id is the X-Bulkrun-Delivery header, the same on every attempt.
create table bulkrun_private.webhook_deliveries (
  id uuid primary key default gen_random_uuid(),
  action_id bigint not null references bulkrun.bulk_actions on delete cascade,
  event text not null,
  url text not null,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
  attempts integer not null default 0,
  last_error text,
  created_at timestamptz not null default now(),
  delivered_at timestamptz,
  unique (action_id, event)
);

create function bulkrun_private.iso_utc(ts timestamptz) returns text language sql immutable as $$
  select to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- The summary is built here, from the row as it is at the event, and travels in the job's payload:
-- every attempt sends the same bytes, whatever happens to the action afterwards. Security definer:
-- whoever may end an action (the API's role, a psql user) need not see bulkrun_private.
create function bulkrun_private.enqueue_webhook() returns trigger
language plpgsql security definer set search_path = pg_catalog as $$
declare
  acct bulkrun.accounts;
  v_url text;
  v_event text := 'action.' || new.status;
  v_queue text := 'bulkrun.webhook:' || new.account_id;
  v_delivery uuid;
begin
  select * into acct from bulkrun.accounts a where a.id = new.account_id;
  v_url := coalesce(new.webhook_url, acct.webhook_url);
  if v_url is null then
    return null;
  end if;
  insert into bulkrun_private.webhook_deliveries (action_id, event, url) values (new.id, v_event, v_url)
    on conflict (action_id, event) do nothing
    returning id into v_delivery;
  if v_delivery is null then
    return null;
  end if;
  -- One queue per account: a slow receiver holds at most one worker slot, and an account's
  -- events arrive in order.
  perform graphile_worker.add_job('bulkrun.webhook',
    json_build_object(
      'deliveryId', v_delivery, 'accountId', new.account_id, 'event', v_event, 'url', v_url,
      'queue', v_queue, 'attempt', 1,
      'body', json_build_object(
        'event', v_event,
        'delivery_id', v_delivery,
        'action', json_build_object(
          'id', new.id, 'account_id', new.account_id, 'account', acct.name, 'type', new.type,
          'status', new.status, 'dry_run', new.dry_run, 'total', new.total, 'processed', new.processed,
          'created', new.created, 'updated', new.updated, 'deleted', new.deleted,
          'skipped', new.skipped, 'failed', new.failed, 'error_code', new.error_code, 'error', new.error,
          'created_at', bulkrun_private.iso_utc(new.created_at),
          'started_at', bulkrun_private.iso_utc(new.started_at),
          'finished_at', bulkrun_private.iso_utc(new.finished_at)))),
    queue_name := v_queue,
    job_key := 'bulkrun.webhook:' || new.id || ':' || new.status,
    max_attempts := 5);
  return null;
end $$;

-- An action recorded as failed on insert (a file that is not a CSV) ends at once, too.
create trigger bulk_actions_webhook_on_insert after insert on bulkrun.bulk_actions
  for each row when (new.status in ('completed', 'failed', 'cancelled'))
  execute function bulkrun_private.enqueue_webhook();

create trigger bulk_actions_webhook after update of status on bulkrun.bulk_actions
  for each row when (old.status is distinct from new.status and new.status in ('completed', 'failed', 'cancelled'))
  execute function bulkrun_private.enqueue_webhook();
