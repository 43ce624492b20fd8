// Ayarlar › Kullanıcılar: users with roles; agents' and supervisors' SIP credentials shown once, on creation.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { ApiForm, EditDelete, Fields, FormDialog, ListPage, ListView, useCrud, useForm, type FieldSpec } from '../../components/listing';
import { t, tv } from '../../i18n';
import type { Role, User, UserCreated } from '../../types';

const ROLES: Role[] = ['agent', 'supervisor', 'admin'];
const PAGE_SIZE = 50;

interface UserForm {
  username: string;
  display_name: string;
  role: Role;
  password: string;
}

const displayName = (): FieldSpec<UserForm> => ({ name: 'display_name', label: t('users.displayName'), attrs: { required: true } });
const role = (): FieldSpec<UserForm> => ({ name: 'role', label: t('users.role'), kind: 'select', options: ROLES.map((r) => [r, tv('role', r)]) });

export function Users(): JSX.Element {
  const [page, setPage] = useState(1);
  const { list, editing, row } = useCrud<User>('/users', { page, page_size: PAGE_SIZE });
  const [created, setCreated] = useState<UserCreated | null>(null);

  return (
    <ListPage class="admin" title={t('nav.users')}>
      <NewUser
        onCreated={(u) => {
          setCreated(u);
          list.reload();
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
      <ListView<User>
        list={list}
        rowError={row.error}
        paging={{ page, pageSize: PAGE_SIZE, onPage: setPage }}
        label={t('nav.users')}
        testId="users"
        rowKey={(u) => u.user_id}
        columns={[
          { head: t('users.username'), cell: (u) => u.username },
          { head: t('users.displayName'), cell: (u) => u.display_name },
          { head: t('users.role'), cell: (u) => tv('role', u.role) },
          { head: t('users.sipEndpoint'), cell: (u) => u.sip_endpoint ?? '' },
        ]}
        actions={(u) => (
          <EditDelete
            onEdit={() => editing.edit(u)}
            editOf={t('users.editOf', { name: u.username })}
            onDelete={() => row.act(t('users.confirmDelete', { name: u.username }), () => api.del(`/users/${u.user_id}`))}
            deleteOf={t('users.deleteOf', { name: u.username })}
          />
        )}
      />
      {editing.row && <EditUser user={editing.row} onClose={editing.close} onSaved={editing.saved} />}
    </ListPage>
  );
}

function NewUser({ onCreated }: { onCreated: (u: UserCreated) => void }): JSX.Element {
  const empty: UserForm = { username: '', display_name: '', role: 'agent', password: '' };
  const [form, set] = useForm<UserForm>(empty);
  const submit = async (): Promise<void> => {
    const user = await api.post<UserCreated>('/users', form);
    set(empty);
    onCreated(user);
  };
  return (
    <ApiForm class="card form inline-form" submit={submit} labelledBy="new-user-heading" submitLabel={t('users.create')}>
      <h2 id="new-user-heading">{t('users.new')}</h2>
      <Fields<UserForm>
        form={form}
        set={set}
        specs={[
          { name: 'username', label: t('users.username'), attrs: { required: true, autoComplete: 'off' } },
          displayName(),
          role(),
          { name: 'password', label: t('users.password'), kind: 'password', attrs: { required: true, minLength: 8, autoComplete: 'new-password' } },
        ]}
      />
    </ApiForm>
  );
}

function EditUser({ user, onClose, onSaved }: { user: User; onClose: () => void; onSaved: () => void }): JSX.Element {
  const [form, set] = useForm<UserForm>({ username: user.username, display_name: user.display_name, role: user.role, password: '' });
  const submit = async (): Promise<void> => {
    const patch: Record<string, string> = { display_name: form.display_name, role: form.role };
    if (form.password) patch.password = form.password;
    await api.patch(`/users/${user.user_id}`, patch);
    onSaved();
  };
  return (
    <FormDialog title={t('users.editTitle', { name: user.username })} onClose={onClose} submit={submit}>
      <Fields<UserForm>
        form={form}
        set={set}
        specs={[displayName(), role(), { name: 'password', label: t('users.newPassword'), kind: 'password', attrs: { minLength: 8, autoComplete: 'new-password' } }]}
      />
    </FormDialog>
  );
}
