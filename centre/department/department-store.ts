/** The part of the centre's store the department's intake and deliverer use. */
import type { CentreStore } from '../store/store.js';

export type DepartmentStore = Pick<
  CentreStore,
  'enqueueDelivery' | 'dueDeliveries' | 'markDelivered' | 'markAttemptFailed' | 'markAlarmed' | 'delivery' | 'deliveries' | 'overdueDeliveries'
>;
