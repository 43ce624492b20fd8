// The menus by role, following the product's: Başlangıç, Agent, Raporlar, Operasyon, Ayarlar.
import type { ComponentType } from 'preact';
import type { Key } from './i18n';
import { Announcements } from './pages/admin/Announcements';
import { IvrMenus } from './pages/admin/Ivr';
import { Numbers } from './pages/admin/Numbers';
import { Queues } from './pages/admin/Queues';
import { Users } from './pages/admin/Users';
import { Blacklist } from './pages/Blacklist';
import { BlacklistRequests } from './pages/BlacklistRequests';
import { Customers } from './pages/Customers';
import { Dashboard } from './pages/Dashboard';
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
  roles?: Role[]; // only these roles of the group see it (default: all of the group's)
}

export interface MenuGroup {
  label: Key;
  roles: Role[];
  routes: RouteDef[];
}

export const MENU: MenuGroup[] = [
  {
    label: 'menu.start',
    roles: ['agent', 'supervisor', 'admin'],
    routes: [
      { path: '/dashboard', label: 'nav.dashboard', component: Dashboard },
      { path: '/start', label: 'nav.start', component: Start, roles: ['agent'] },
    ],
  },
  {
    label: 'menu.agent',
    roles: ['agent'],
    routes: [
      { path: '/phone', label: 'nav.phone', component: PhonePage },
      { path: '/calls', label: 'nav.myCalls', component: MyCalls },
      { path: '/settings', label: 'nav.settings', component: Settings },
      { path: '/customers', label: 'nav.customers', component: Customers },
      { path: '/blacklist/requests', label: 'nav.myBlockRequests', component: BlacklistRequests },
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
  {
    // The same pages as the agents' (Agent menu) plus the blacklist itself: supervisors read it, admins manage it.
    label: 'menu.operations',
    roles: ['supervisor', 'admin'],
    routes: [
      { path: '/live', label: 'nav.live', component: Live },
      { path: '/customers', label: 'nav.customers', component: Customers },
      { path: '/blacklist/requests', label: 'nav.blacklistRequests', component: BlacklistRequests },
      { path: '/blacklist', label: 'nav.blacklist', component: Blacklist },
    ],
  },
  {
    label: 'menu.settings',
    roles: ['admin'],
    routes: [
      { path: '/admin/users', label: 'nav.users', component: Users },
      { path: '/admin/queues', label: 'nav.queues', component: Queues },
      { path: '/admin/numbers', label: 'nav.numbers', component: Numbers },
      { path: '/admin/ivr', label: 'nav.ivr', component: IvrMenus },
      { path: '/admin/announcements', label: 'nav.announcements', component: Announcements },
    ],
  },
];

export function menuFor(role: Role): MenuGroup[] {
  return MENU.filter((g) => g.roles.includes(role)).map((g) => ({ ...g, routes: g.routes.filter((r) => !r.roles || r.roles.includes(role)) }));
}

/** Where a role lands after logging in. The Dashboard (Pano) is first in every menu; making it the landing page
 * moves the existing browser tests' starting point (agents /start, managers /live): the lead's call. */
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
