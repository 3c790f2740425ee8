/** Tier notices: every tier transition published, and delivered to the webhook. */
export { createNotifier, type Notifier, type NoticeChannel } from './notifier.js';
