// Telefon / Arama Ekranı: the phone laid out in the page (the floating one hides here).
import type { JSX } from 'preact';
import { t } from '../i18n';
import { Phone } from '../phone/Phone';

export function PhonePage(): JSX.Element {
  return (
    <div class="page phone-page">
      <h1>{t('nav.phone')}</h1>
      <Phone floating={false} />
    </div>
  );
}
