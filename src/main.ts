/**
 * The container's entry point: read the configuration, then run the example service.
 * Replace `exampleRoutes` with your own routes.
 */
import { exampleRoutes } from './app/app.js';
import { ChatRoom } from './app/chat-room.js';
import { type Config, ConfigError, loadConfig } from './service/config.js';
import { Service } from './service/service.js';

/** Exit code for a bad configuration (sysexits' EX_CONFIG). */
const EX_CONFIG = 78;

function configOrExit(): Readonly<Config> {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`configuration error: ${error.message}\n`);
      process.exit(EX_CONFIG);
    }
    throw error;
  }
}

const config = configOrExit();
const service = new Service({ config, routes: exampleRoutes(new ChatRoom(1000)) });
service.start().catch((error: unknown) => {
  service.logger.fatal({ err: error }, 'start-up failed');
  service.logger.flush(() => process.exit(1));
});
