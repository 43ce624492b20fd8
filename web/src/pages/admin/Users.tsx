// Ayarlar › Kullanıcılar: users with roles; agents' and supervisors' SIP credentials shown once, on creation.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { Dialog, ErrorBox, Loading, Pager, TableWrap } from '../../components/common';
import { t, tv } from '../../i18n';
import type { Role, User, UserCreated } from '../../types';
import { useList, useSubmit } from './shared';

const ROLES: Role[] = ['agent', 'supervisor', 'admin'];
const PAGE_SIZE = 50;

export function Users(): JSX.Element {
  const [page, setPage] = useState(1);
  const { data, error, reload } = useList<User>('/users', { page, page_size: PAGE_SIZE });
  const [created, setCreated] = useState<UserCreated | null>(null);
  const [editing, setEditing] = useState<User | null>(null);
  const [rowError, setRowError] = useState<unknown>(null);

  const remove = (user: User): void => {
    if (!confirm(t('users.confirmDelete', { name: user.username }))) return;
    setRowError(null);
    api
      .del(`/users/${user.user_id}`)
      .then(reload)
      .catch((e: unknown) => setRowError(e));
  };

  return (
    <div class="page admin">
      <h1>{t('nav.users')}</h1>
      <NewUser
        onCreated={(u) => {
          setCreated(u);
          reload();
        }}
      />
      {created?.sip && (
        <section class="card secret" role="status" aria-labelledby="sip-heading" data-testid="sip-credentials">
          <h2 id="sip-heading">{t('users.sipTitle', { name: created.username })}</h2>
          <p>{t('users.sipOnce')}</p>
          <dl class="facts">
            <dt>{t('users.sipEndpoint')}</dt>
            <dd>
              <code>{created.sip.endpoint}</code>
            </dd>
            <dt>{t('users.sipUsername')}</dt>
            <dd>
              <code>{created.sip.username}</code>
            </dd>
            <dt>{t('users.sipPassword')}</dt>
            <dd>
              <code data-testid="sip-password">{created.sip.password}</code>
            </dd>
          </dl>
          <button type="button" class="btn" onClick={() => setCreated(null)}>
            {t('users.sipDone')}
          </button>
        </section>
      )}
      <ErrorBox error={error ?? rowError} />
      {!data && !error && <Loading />}
      {data && (
        <>
          <TableWrap label={t('nav.users')}>
            <table class="table" data-testid="users">
              <thead>
                <tr>
                  <th scope="col">{t('users.username')}</th>
                  <th scope="col">{t('users.displayName')}</th>
                  <th scope="col">{t('users.role')}</th>
                  <th scope="col">{t('users.sipEndpoint')}</th>
                  <th scope="col">
                    <span class="sr-only">{t('common.actions')}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((u) => (
                  <tr key={u.user_id}>
                    <td>{u.username}</td>
                    <td>{u.display_name}</td>
                    <td>{tv('role', u.role)}</td>
                    <td>{u.sip_endpoint ?? ''}</td>
                    <td class="row-actions">
                      <button type="button" class="btn small" onClick={() => setEditing(u)} aria-label={t('users.editOf', { name: u.username })}>
                        {t('common.edit')}
                      </button>
                      <button type="button" class="btn small danger" onClick={() => remove(u)} aria-label={t('users.deleteOf', { name: u.username })}>
                        {t('common.delete')}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <Pager page={page} pageSize={PAGE_SIZE} total={data.total} onPage={setPage} />
        </>
      )}
      {editing && (
        <EditUser
          user={editing}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            reload();
          }}
        />
      )}
    </div>
  );
}

function NewUser({ onCreated }: { onCreated: (u: UserCreated) => void }): JSX.Element {
  const empty = { username: '', display_name: '', role: 'agent' as Role, password: '' };
  const [form, setForm] = useState(empty);
  const { busy, error, run } = useSubmit();
  const submit = (event: Event): void => {
    event.preventDefault();
    run(async () => {
      const user = await api.post<UserCreated>('/users', form);
      setForm(empty);
      onCreated(user);
    });
  };
  return (
    <form class="card form inline-form" onSubmit={submit} aria-labelledby="new-user-heading" noValidate>
      <h2 id="new-user-heading">{t('users.new')}</h2>
      <label class="field">
        <span>{t('users.username')}</span>
        <input required autoComplete="off" value={form.username} onInput={(e) => setForm({ ...form, username: e.currentTarget.value })} />
      </label>
      <label class="field">
        <span>{t('users.displayName')}</span>
        <input required value={form.display_name} onInput={(e) => setForm({ ...form, display_name: e.currentTarget.value })} />
      </label>
      <label class="field">
        <span>{t('users.role')}</span>
        <select value={form.role} onChange={(e) => setForm({ ...form, role: e.currentTarget.value as Role })}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {tv('role', r)}
            </option>
          ))}
        </select>
      </label>
      <label class="field">
        <span>{t('users.password')}</span>
        <input type="password" required minLength={8} autoComplete="new-password" value={form.password} onInput={(e) => setForm({ ...form, password: e.currentTarget.value })} />
      </label>
      <ErrorBox error={error} />
      <button type="submit" class="btn primary" disabled={busy}>
        {t('users.create')}
      </button>
    </form>
  );
}

function EditUser({ user, onClose, onSaved }: { user: User; onClose: () => void; onSaved: () => void }): JSX.Element {
  const [form, setForm] = useState({ display_name: user.display_name, role: user.role, password: '' });
  const { busy, error, run } = useSubmit();
  const submit = (event: Event): void => {
    event.preventDefault();
    run(async () => {
      const patch: Record<string, string> = { display_name: form.display_name, role: form.role };
      if (form.password) patch.password = form.password;
      await api.patch(`/users/${user.user_id}`, patch);
      onSaved();
    });
  };
  return (
    <Dialog title={t('users.editTitle', { name: user.username })} onClose={onClose}>
      <form class="form" onSubmit={submit} noValidate>
        <label class="field">
          <span>{t('users.displayName')}</span>
          <input required value={form.display_name} onInput={(e) => setForm({ ...form, display_name: e.currentTarget.value })} />
        </label>
        <label class="field">
          <span>{t('users.role')}</span>
          <select value={form.role} onChange={(e) => setForm({ ...form, role: e.currentTarget.value as Role })}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {tv('role', r)}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>{t('users.newPassword')}</span>
          <input type="password" minLength={8} autoComplete="new-password" value={form.password} onInput={(e) => setForm({ ...form, password: e.currentTarget.value })} />
        </label>
        <ErrorBox error={error} />
        <button type="submit" class="btn primary" disabled={busy}>
          {t('common.save')}
        </button>
      </form>
    </Dialog>
  );
}
