// The list-and-dialog pattern of the admin and operations pages, once: a table of columns with row actions, an
// error, a loading marker and paging; filters; forms (in a dialog or inline) drawn from field descriptions.
import type { ComponentChildren, JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, type Query } from '../api';
import { t } from '../i18n';
import type { Page } from '../types';
import { Dialog, ErrorBox, Loading, Pager, TableWrap } from './common';

/** A page of `path`, loaded again when the query changes or on `reload` (a late answer never overwrites a newer one). */
export function useList<T>(path: string, query: Query = {}): { data: Page<T> | null; error: unknown; reload: () => void } {
  const [data, setData] = useState<Page<T> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const latest = useRef(0);
  const key = JSON.stringify(query);
  const reload = useCallback(() => {
    const asked = ++latest.current;
    api
      .get<Page<T>>(path, JSON.parse(key) as Query)
      .then((d) => {
        if (asked !== latest.current) return;
        setData(d);
        setError(null);
      })
      .catch((e: unknown) => asked === latest.current && setError(e));
  }, [path, key]);
  useEffect(reload, [reload]);
  return { data, error, reload };
}

/** Run a submit: busy while it runs, its error kept for the form. */
export function useSubmit(): { busy: boolean; error: unknown; run: (action: () => Promise<void>) => void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = (action: () => Promise<void>): void => {
    setBusy(true);
    setError(null);
    action()
      .catch((e: unknown) => setError(e))
      .finally(() => setBusy(false));
  };
  return { busy, error, run };
}

export function intOr(value: string, fallback: number): number {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) ? n : fallback;
}

/** One column: its (translated) heading and what a row shows in it. */
export interface Column<T> {
  head: string;
  cell: (row: T) => ComponentChildren;
  numeric?: boolean;
  /** Free text that wraps instead of widening the table. */
  wrap?: boolean;
  testId?: string;
}

interface TableProps<T> {
  label: string;
  testId: string;
  columns: readonly (Column<T> | false)[];
  rowKey: (row: T) => string;
  rowAttrs?: (row: T) => Record<string, string>;
  /** The last column's buttons; the column has a heading only screen readers hear. */
  actions?: ((row: T) => ComponentChildren) | false;
  /** Shown in a row across the table when there are no rows. */
  empty?: string;
}

export function DataTable<T>(props: TableProps<T> & { rows: readonly T[] }): JSX.Element {
  const { label, testId, rowKey, rowAttrs, actions, empty, rows } = props;
  const columns = props.columns.filter((c): c is Column<T> => !!c);
  const num = (c: Column<T>): string | undefined => (c.numeric ? 'num' : c.wrap ? 'wrap' : undefined);
  return (
    <TableWrap label={label}>
      <table class="table" data-testid={testId}>
        <thead>
          <tr>
            {columns.map((c, i) => (
              <th key={i} scope="col" class={num(c)}>
                {c.head}
              </th>
            ))}
            {actions && (
              <th scope="col">
                <span class="sr-only">{t('common.actions')}</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 && empty && (
            <tr>
              <td colSpan={columns.length + (actions ? 1 : 0)} class="muted">
                {empty}
              </td>
            </tr>
          )}
          {rows.map((row) => (
            <tr key={rowKey(row)} {...rowAttrs?.(row)}>
              {columns.map((c, i) => (
                <td key={i} class={num(c)} data-testid={c.testId}>
                  {c.cell(row)}
                </td>
              ))}
              {actions && <td class="row-actions">{actions(row)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  );
}

/** A loaded list: its error (or a row action's), a loading marker, the table, and the pager when paged. */
export function ListView<T>(
  props: TableProps<T> & {
    list: { data: Page<T> | null; error: unknown };
    rowError?: unknown;
    paging?: { page: number; pageSize: number; onPage: (page: number) => void };
    /** A sentence instead of the table when there are no rows. */
    none?: string;
  },
): JSX.Element {
  const { list, rowError, paging, none } = props;
  const { data, error } = list;
  return (
    <>
      <ErrorBox error={error ?? rowError} />
      {!data && !error && <Loading />}
      {data && none && data.items.length === 0 && <p class="muted">{none}</p>}
      {data && !(none && data.items.length === 0) && (
        <>
          <DataTable {...props} rows={data.items} />
          {paging && <Pager page={paging.page} pageSize={paging.pageSize} total={data.total} onPage={paging.onPage} />}
        </>
      )}
    </>
  );
}

/** A list page: its heading and, for those who may add, the button that opens the new-row dialog. */
export function ListPage(props: {
  class: string;
  title: string;
  add?: { label: string; onClick: () => void; disabled?: boolean; testId?: string } | false;
  children: ComponentChildren;
}): JSX.Element {
  const { add } = props;
  return (
    <div class={`page ${props.class}`}>
      <h1>{props.title}</h1>
      {add && (
        <p>
          <button type="button" class="btn primary" data-testid={add.testId} onClick={add.onClick} disabled={add.disabled}>
            {add.label}
          </button>
        </p>
      )}
      {props.children}
    </div>
  );
}

/** A list with its edit dialog's state and its confirmed row actions, all reloading the list. */
export function useCrud<T>(path: string, query?: Query): { list: ReturnType<typeof useList<T>>; editing: ReturnType<typeof useEditing<T>>; row: ReturnType<typeof useRowAction> } {
  const list = useList<T>(path, query);
  return { list, editing: useEditing<T>(list.reload), row: useRowAction(list.reload) };
}

/** A row's edit and delete (or withdraw) buttons, each naming the row for screen readers. */
export function EditDelete(props: { onEdit: () => void; editOf: string; onDelete: () => void; deleteOf: string; deleteText?: string }): JSX.Element {
  return (
    <>
      <button type="button" class="btn small" onClick={props.onEdit} aria-label={props.editOf}>
        {t('common.edit')}
      </button>
      <button type="button" class="btn small danger" onClick={props.onDelete} aria-label={props.deleteOf}>
        {props.deleteText ?? t('common.delete')}
      </button>
    </>
  );
}

/** A confirmed row action (delete, withdraw, clear): its error kept for the list, the list reloaded after. */
export function useRowAction(reload: () => void): { error: unknown; act: (question: string, action: () => Promise<unknown>) => void } {
  const [error, setError] = useState<unknown>(null);
  const act = (question: string, action: () => Promise<unknown>): void => {
    if (!confirm(question)) return;
    setError(null);
    action()
      .then(reload)
      .catch((e: unknown) => setError(e));
  };
  return { error, act };
}

/** Which row a dialog edits: none, a new one, or an existing row. */
export function useEditing<T>(reload: () => void): {
  open: boolean;
  row: T | null;
  create: () => void;
  edit: (row: T) => void;
  close: () => void;
  saved: () => void;
} {
  const [editing, setEditing] = useState<{ row: T | null } | null>(null);
  return {
    open: editing !== null,
    row: editing?.row ?? null,
    create: () => setEditing({ row: null }),
    edit: (row: T) => setEditing({ row }),
    close: () => setEditing(null),
    saved: () => {
      setEditing(null);
      reload();
    },
  };
}

/** A form's values and a setter that merges a change into them. */
export function useForm<F>(initial: F | (() => F)): [F, (patch: Partial<F>) => void] {
  const [form, setForm] = useState<F>(initial);
  return [form, (patch: Partial<F>) => setForm((f) => ({ ...f, ...patch }))];
}

type Attrs = Record<string, string | number | boolean | undefined>;
type Kind = 'text' | 'tel' | 'password' | 'number' | 'date' | 'datetime-local' | 'search' | 'textarea' | 'select' | 'check';

/** One form field: the value it edits, its label, its control and the control's own attributes. */
export type FieldSpec<F> = {
  [K in keyof F & string]: {
    name: K;
    label: string;
    kind?: Kind;
    /** [value, label] pairs of a select. */
    options?: readonly (readonly [string, string])[];
    /** A number field's value when the text is not a number. */
    fallback?: number;
    wide?: boolean;
    attrs?: Attrs;
  };
}[keyof F & string];

/** Field descriptions; `false` (from `condition && field`) leaves one out. */
export type FieldSpecs<F> = readonly (FieldSpec<F> | false | null | undefined)[];

function Control<F>({ spec, form, set }: { spec: FieldSpec<F>; form: F; set: (patch: Partial<F>) => void }): JSX.Element {
  const { name, label, kind = 'text', options = [], attrs } = spec;
  const value = form[name];
  const change = (raw: string | boolean): void =>
    set({ [name]: kind === 'number' && typeof raw === 'string' ? intOr(raw, spec.fallback ?? 0) : raw } as Partial<F>);
  if (kind === 'check') {
    return (
      <label class="check">
        <input type="checkbox" checked={value === true} onChange={(e) => change(e.currentTarget.checked)} {...attrs} />
        <span>{label}</span>
      </label>
    );
  }
  const text = String(value ?? '');
  let control: JSX.Element;
  if (kind === 'select') {
    control = (
      <select value={text} onChange={(e) => change(e.currentTarget.value)} {...attrs}>
        {options.map(([v, l]) => (
          <option key={v} value={v}>
            {l}
          </option>
        ))}
      </select>
    );
  } else if (kind === 'textarea') {
    control = <textarea value={text} onInput={(e) => change(e.currentTarget.value)} {...attrs} />;
  } else {
    // Preact types inputs by their `type` one by one; every kind left here is a plain text-like input.
    control = <input type={kind as 'text'} value={text} onInput={(e) => change(e.currentTarget.value)} {...attrs} />;
  }
  return (
    <label class={spec.wide ? 'field wide' : 'field'}>
      <span>{label}</span>
      {control}
    </label>
  );
}

/** The fields described, in order. */
export function Fields<F>({ specs, form, set }: { specs: FieldSpecs<F>; form: F; set: (patch: Partial<F>) => void }): JSX.Element {
  return (
    <>
      {specs.map((spec) => spec && <Control<F> key={spec.name} spec={spec} form={form} set={set} />)}
    </>
  );
}

interface FormProps {
  /** The request; a refusal is shown above the button, in the user's language. */
  submit: () => Promise<void>;
  submitLabel?: string;
  submitClass?: string;
  submitTestId?: string;
  class?: string;
  testId?: string;
  labelledBy?: string;
  children: ComponentChildren;
}

/** A form that sends one request: busy while it runs, its refusal shown. */
export function ApiForm(props: FormProps): JSX.Element {
  const { busy, error, run } = useSubmit();
  const onSubmit = (event: Event): void => {
    event.preventDefault();
    run(props.submit);
  };
  return (
    <form class={props.class ?? 'form'} onSubmit={onSubmit} noValidate aria-labelledby={props.labelledBy} data-testid={props.testId}>
      {props.children}
      <ErrorBox error={error} />
      <button type="submit" class={`btn ${props.submitClass ?? 'primary'}`} disabled={busy} data-testid={props.submitTestId}>
        {props.submitLabel ?? t('common.save')}
      </button>
    </form>
  );
}

/** A dialog holding one ApiForm (create or edit). */
export function FormDialog(props: FormProps & { title: string; onClose: () => void; wide?: boolean }): JSX.Element {
  const { title, onClose, wide, ...form } = props;
  return (
    <Dialog title={title} onClose={onClose} wide={wide}>
      <ApiForm {...form} />
    </Dialog>
  );
}

/** Filters being typed (draft), the ones applied, and the page: applying or resetting goes back to page 1. */
export function useFilters<F>(initial: F, clean: (draft: F) => F = (draft) => draft): {
  draft: F;
  setDraft: (patch: Partial<F>) => void;
  filters: F;
  page: number;
  setPage: (page: number) => void;
  apply: (event: Event) => void;
  reset: () => void;
} {
  const [draft, setDraft] = useForm<F>(initial);
  const [filters, setFilters] = useState<F>(initial);
  const [page, setPage] = useState(1);
  return {
    draft,
    setDraft,
    filters,
    page,
    setPage,
    apply: (event: Event) => {
      event.preventDefault();
      setPage(1);
      setFilters(clean(draft));
    },
    reset: () => {
      setDraft(initial);
      setPage(1);
      setFilters(initial);
    },
  };
}

/** The filters' form: the fields described, then Apply (and any other buttons given). */
export function FilterForm<F>(props: {
  label: string;
  state: { draft: F; setDraft: (patch: Partial<F>) => void; apply: (event: Event) => void };
  specs: FieldSpecs<F>;
  search?: boolean;
  applyLabel?: string;
  applyTestId?: string;
  children?: ComponentChildren;
}): JSX.Element {
  const { state } = props;
  return (
    <form class="filters card" role={props.search ? 'search' : undefined} onSubmit={state.apply} aria-label={props.label}>
      <Fields specs={props.specs} form={state.draft} set={state.setDraft} />
      <div class="filter-actions">
        <button type="submit" class="btn primary" data-testid={props.applyTestId}>
          {props.applyLabel ?? t('report.apply')}
        </button>
        {props.children}
      </div>
    </form>
  );
}

/** A select's options with "any" first (a filter that is off). */
export function anyOf(options: readonly (readonly [string, string])[]): (readonly [string, string])[] {
  return [['', t('report.any')], ...options];
}
