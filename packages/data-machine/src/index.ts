export { dataMachineMigrations, migrateDataMachine } from './database/data-machine-migrations';
