// The menus by role, following the product's: Başlangıç, Agent, Raporlar, Operasyon, Ayarlar.
import type { ComponentType } from 'preact';
import type { Key } from './i18n';
import { IvrMenus } from './pages/admin/Ivr';
import { Numbers } from './pages/admin/Numbers';
import { Queues } from './pages/admin/Queues';
import { Users } from './pages/admin/Users';
import { Live } from './pages/Live';
import { MyCalls } from './pages/MyCalls';
import { PhonePage } from './pages/PhonePage';
import { InboundReport, OutboundReport } from './pages/Reports';
import { Settings } from './pages/Settings';
import { Start } from './pages/Start';
import type { Role } from './types';

export interface RouteDef {
  path: string;
  label: Key;
  component: ComponentType;
}

export interface MenuGroup {
  label: Key;
  roles: Role[];
  routes: RouteDef[];
}

export const MENU: MenuGroup[] = [
  { label: 'menu.start', roles: ['agent'], routes: [{ path: '/start', label: 'nav.start', component: Start }] },
  {
    label: 'menu.agent',
    roles: ['agent'],
    routes: [
      { path: '/phone', label: 'nav.phone', component: PhonePage },
      { path: '/calls', label: 'nav.myCalls', component: MyCalls },
      { path: '/settings', label: 'nav.settings', component: Settings },
    ],
  },
  {
    label: 'menu.reports',
    roles: ['supervisor', 'admin'],
    routes: [
      { path: '/reports/inbound', label: 'nav.inboundReport', component: InboundReport },
      { path: '/reports/outbound', label: 'nav.outboundReport', component: OutboundReport },
    ],
  },
  { label: 'menu.operations', roles: ['supervisor', 'admin'], routes: [{ path: '/live', label: 'nav.live', component: Live }] },
  {
    label: 'menu.settings',
    roles: ['admin'],
    routes: [
      { path: '/admin/users', label: 'nav.users', component: Users },
      { path: '/admin/queues', label: 'nav.queues', component: Queues },
      { path: '/admin/numbers', label: 'nav.numbers', component: Numbers },
      { path: '/admin/ivr', label: 'nav.ivr', component: IvrMenus },
    ],
  },
];

export function menuFor(role: Role): MenuGroup[] {
  return MENU.filter((g) => g.roles.includes(role));
}

/** Where a role lands after logging in. */
export function homeOf(role: Role): string {
  return role === 'agent' ? '/start' : '/live';
}

export function findRoute(role: Role, pathname: string): RouteDef | undefined {
  for (const group of menuFor(role)) {
    const found = group.routes.find((r) => r.path === pathname);
    if (found) return found;
  }
  return undefined;
}
